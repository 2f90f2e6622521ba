"""The emergency-stop interface every controller node offers, in one place:

- `/emergency_stop` (std_msgs/Bool, true = stop; false does not release) and the std_srvs/Trigger
  service `/emergency_stop` latch the stop;
- `/emergency_stop/reset` (Trigger) releases it;
- `/emergency_stop/active` (Bool, transient-local: late joiners get it) says which.
The node supplies what stopping and releasing mean for its robot."""

from collections.abc import Callable

from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.node import Node
from std_msgs.msg import Bool
from std_srvs.srv import Trigger

from vla_bringup.qos import ESTOP_STATE_QOS


class EmergencyStopInterface:
    def __init__(self, node: Node, latch: Callable[[str], bool], release: Callable[[], bool],
                 is_latched: Callable[[], bool]) -> None:
        """latch(source) -> True if newly latched; release() -> True if it was latched."""
        self.node, self.latch, self.release, self.is_latched = node, latch, release, is_latched
        self.state_pub = node.create_publisher(Bool, "/emergency_stop/active", ESTOP_STATE_QOS)
        self.state_pub.publish(Bool(data=False))
        group = MutuallyExclusiveCallbackGroup()  # never queued behind a slow callback
        node.create_subscription(Bool, "/emergency_stop", self.on_topic, 10,
                                 callback_group=group)
        node.create_service(Trigger, "/emergency_stop", self.on_stop_service,
                            callback_group=group)
        node.create_service(Trigger, "/emergency_stop/reset", self.on_reset_service,
                            callback_group=group)

    def stop(self, source: str) -> bool:
        latched = self.latch(source)
        if latched:
            self.state_pub.publish(Bool(data=True))
        return latched

    def on_topic(self, msg: Bool) -> None:
        if msg.data:
            self.stop("/emergency_stop topic")
        elif self.is_latched():
            self.node.get_logger().warning(
                "/emergency_stop false ignored: call /emergency_stop/reset to release",
                throttle_duration_sec=2.0)

    def on_stop_service(self, _request, response: Trigger.Response) -> Trigger.Response:
        latched = self.stop("/emergency_stop service")
        response.success = True
        response.message = "stopped" if latched else "already stopped"
        return response

    def on_reset_service(self, _request, response: Trigger.Response) -> Trigger.Response:
        released = self.release()
        response.success = released
        response.message = "released; holding until a new target" if released else "not stopped"
        if released:
            self.state_pub.publish(Bool(data=False))
            self.node.get_logger().warning("emergency stop released")
        return response
