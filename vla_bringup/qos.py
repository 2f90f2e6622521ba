"""QoS profiles shared by publishers and subscribers (a mismatch silently drops messages)."""

from rclpy.duration import Duration
from rclpy.qos import DurabilityPolicy, LivelinessPolicy, QoSProfile, ReliabilityPolicy

# /skills/registry: late joiners (a planner started after the skill servers) get every entry.
REGISTRY_QOS = QoSProfile(depth=100, durability=DurabilityPolicy.TRANSIENT_LOCAL)
# skill servers write it with a short liveliness lease, so a crashed server is noticed in about a
# second (vla_bringup.provider_watch listens with REGISTRY_LIVELINESS_QOS); REGISTRY_QOS readers
# accept any lease
REGISTRY_WRITER_QOS = QoSProfile(depth=100, durability=DurabilityPolicy.TRANSIENT_LOCAL,
                                 liveliness=LivelinessPolicy.AUTOMATIC,
                                 liveliness_lease_duration=Duration(seconds=0.25))
REGISTRY_LIVELINESS_QOS = QoSProfile(depth=1, liveliness=LivelinessPolicy.AUTOMATIC,
                                     liveliness_lease_duration=Duration(seconds=1.0))
# camera streams: newest frame matters, old ones do not.
SENSOR_QOS = QoSProfile(depth=2, reliability=ReliabilityPolicy.BEST_EFFORT)
# /emergency_stop/active: the latched stop state; a node started later still learns it.
ESTOP_STATE_QOS = QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL)
