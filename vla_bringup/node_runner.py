"""The one way our nodes are run: init, spin on a multi-threaded executor, shut down cleanly."""

from collections.abc import Callable

import rclpy
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor
from rclpy.node import Node

from vla_bringup.ros_env import isolate_ros_env


def run_node(make_node: Callable[[], Node], args: list[str] | None = None,
             threads: int = 4) -> None:
    isolate_ros_env()  # only fills in what the user left unset
    rclpy.init(args=args)
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
