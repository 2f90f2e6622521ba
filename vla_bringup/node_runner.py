"""The one way our nodes are run: init, an executor spinning on its own thread, a clean stop on
SIGINT/SIGTERM, and loops (start_worker) whose death ends the process."""

import signal
import threading
import traceback
from collections.abc import Callable
from typing import Any

import rclpy
from rclpy.exceptions import ParameterUninitializedException
from rclpy.executors import (
    Executor,
    ExternalShutdownException,
    MultiThreadedExecutor,
    SingleThreadedExecutor,
)
from rclpy.node import Node
from rclpy.signals import SignalHandlerOptions

from vla_bringup.ros_env import isolate_ros_env

_dead_workers: list[str] = []  # loops that died: the process exits with an error


def run_node(make_node: Callable[[], Node], args: list[str] | None = None,
             threads: int = 4) -> None:
    isolate_ros_env()  # only fills in what the user left unset
    # Ctrl-C and ros2 launch's SIGTERM only ask the main thread to stop: an exception raised
    # inside rclpy's C++ (start-up, executor) aborts the process. Set here since a shell that
    # ignores SIGINT (background jobs, CI) would otherwise pass that on to the node
    stop_requested = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda _signum, _frame: stop_requested.set())
    # no rclpy signal handlers: the context stays up until close() has run (a skill server's
    # goodbye on /skills/registry goes out)
    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    node = executor = spinner = None
    try:
        node = make_node()
        # one thread when no callback blocks: rclpy's thread pool costs a lot of CPU per message
        executor = (SingleThreadedExecutor() if threads == 1
                    else MultiThreadedExecutor(num_threads=threads))
        executor.add_node(node)
        # spin on a thread: the main thread waits in Python, where a signal is seen at once
        # (a spin blocked in the middleware's wait would only see it when a message arrives)
        spinner = threading.Thread(target=_spin, args=(node, executor), name="spin",
                                   daemon=True)
        spinner.start()
        while spinner.is_alive() and not stop_requested.wait(timeout=0.1):
            pass
    finally:
        if node is not None:
            close = getattr(node, "close", None)
            if close is not None:
                close()  # stop worker threads before the node's entities go away
        if executor is not None:
            executor.shutdown(timeout_sec=2.0)
        if spinner is not None:
            spinner.join(timeout=2.0)
        if node is not None:
            node.destroy_node()
        if rclpy.ok():
            rclpy.shutdown()
    if _dead_workers:
        raise SystemExit(f"{', '.join(_dead_workers)} loop died: see the log above")


def _spin(node: Node, executor: Executor) -> None:
    try:
        executor.spin()
    except ExternalShutdownException:  # the context ended: a worker died, or shutdown
        pass
    except Exception:  # noqa: BLE001 - a node that no longer spins must not stay up
        node.get_logger().fatal(f"executor died:\n{traceback.format_exc()}")
        _dead_workers.append("executor")


def start_worker(node: Node, loop: Callable[[], None], name: str) -> threading.Thread:
    """A node's own loop (physics, control) on a daemon thread. If the loop raises, the error
    is logged and the whole process ends with a failure: a node whose loop died must not stay
    up looking healthy (subscribers would only see it go quiet)."""

    def run() -> None:
        try:
            loop()
        except Exception:  # noqa: BLE001 - any escape is fatal; log it whole and end the node
            node.get_logger().fatal(f"{name} loop died:\n{traceback.format_exc()}")
            _dead_workers.append(name)
            node.context.try_shutdown()  # the executor's spin returns; run_node exits 1

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()
    return thread


def optional_parameter(node: Node, name: str) -> Any:
    """A parameter declared by type only (no default): its value, or None when not given."""
    try:
        return node.get_parameter(name).value
    except ParameterUninitializedException:
        return None
