"""An rclpy ActionClient that may be created while its node is spinning on another thread."""

import threading

from rclpy.action import ActionClient


class SpinSafeActionClient(ActionClient):
    """rclpy's ActionClient adds itself to the node's waitables before it creates its lock, so
    an executor building its wait set at that moment dies with "'ActionClient' object has no
    attribute '_lock'" (ros2/rclpy#1589; it took the planner's executor down in CI, where the
    planner makes a skill's client on the first step of a task). The lock is made first here;
    rclpy's __init__ then replaces it, which is harmless since no call holds it yet."""

    def __init__(self, *args, **kwargs) -> None:
        self._lock = threading.Lock()
        super().__init__(*args, **kwargs)
