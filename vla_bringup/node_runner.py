"""The one way our nodes are run: init, spin on a multi-threaded executor, shut down cleanly."""

from collections.abc import Callable
from typing import Any

import rclpy
from rclpy.exceptions import ParameterUninitializedException
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor
from rclpy.node import Node
from rclpy.signals import SignalHandlerOptions

from vla_bringup.ros_env import isolate_ros_env


def run_node(make_node: Callable[[], Node], args: list[str] | None = None,
             threads: int = 4) -> None:
    isolate_ros_env()  # only fills in what the user left unset
    # no rclpy signal handlers: Ctrl-C raises KeyboardInterrupt here, so close() still runs
    # with a live context (a skill server's goodbye on /skills/registry goes out)
    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    node = None
    try:
        node = make_node()
        executor = MultiThreadedExecutor(num_threads=threads)
        executor.add_node(node)
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if node is not None:
            close = getattr(node, "close", None)
            if close is not None:
                close()  # stop worker threads before the node's entities go away
            node.destroy_node()
        if rclpy.ok():
            rclpy.shutdown()


def optional_parameter(node: Node, name: str) -> Any:
    """A parameter declared by type only (no default): its value, or None when not given."""
    try:
        return node.get_parameter(name).value
    except ParameterUninitializedException:
        return None
