"""Convert the stack's messages into the skills' WorldSnapshot (no rclpy: messages are data)."""

import math

import numpy as np

from vla_skills.base import ObjectInfo


def yaw_of(q) -> float:
    """Yaw (rotation about z) of a geometry_msgs/Quaternion-like object."""
    return math.atan2(2.0 * (q.w * q.z + q.x * q.y), 1.0 - 2.0 * (q.y * q.y + q.z * q.z))


def objects_from_msg(msg) -> dict[str, ObjectInfo]:
    """vla_stack/SceneObjects -> ObjectInfo by name; entries with non-finite numbers are dropped."""
    objects = {}
    for o in msg.objects:
        p, s = o.pose.position, o.size
        position = np.array([p.x, p.y, p.z], dtype=float)
        size = np.array([s.x, s.y, s.z], dtype=float)
        if not (o.name and np.all(np.isfinite(position)) and np.all(np.isfinite(size))):
            continue
        yaw = yaw_of(o.pose.orientation)
        objects[o.name] = ObjectInfo(
            name=o.name, kind=o.kind or ("container" if o.shape == "bin" else "graspable"),
            position_base_m=position, size_m=size, yaw_rad=yaw if math.isfinite(yaw) else 0.0,
            visible=o.confidence >= 0.5)
    return objects
