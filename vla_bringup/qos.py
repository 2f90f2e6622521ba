"""QoS profiles shared by publishers and subscribers (a mismatch silently drops messages)."""

from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy

# /skills/registry: late joiners (a planner started after the skill servers) get every entry.
REGISTRY_QOS = QoSProfile(depth=100, durability=DurabilityPolicy.TRANSIENT_LOCAL)
# /skills/heartbeat: skill servers' "still alive" (vla_bringup.provider_watch); only the newest
# matters, and losing one of the several per silence window is harmless
HEARTBEAT_QOS = QoSProfile(depth=50, reliability=ReliabilityPolicy.BEST_EFFORT)
# camera streams: newest frame matters, old ones do not.
SENSOR_QOS = QoSProfile(depth=2, reliability=ReliabilityPolicy.BEST_EFFORT)
# /emergency_stop/active: the latched stop state; a node started later still learns it.
ESTOP_STATE_QOS = QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL)
