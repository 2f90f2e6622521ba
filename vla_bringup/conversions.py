"""geometry_msgs <-> pinocchio conversions, with the validation every node needs at its input."""

import numpy as np
import pinocchio as pin
from geometry_msgs.msg import Pose, Quaternion, Vector3


def pose_msg_from_se3(pose: pin.SE3) -> Pose:
    msg = Pose()
    msg.position.x, msg.position.y, msg.position.z = (float(v) for v in pose.translation)
    x, y, z, w = (float(v) for v in pin.Quaternion(pose.rotation).coeffs())  # pinocchio: xyzw
    msg.orientation.x, msg.orientation.y, msg.orientation.z, msg.orientation.w = x, y, z, w
    return msg


def se3_from_pose_msg(msg: Pose) -> pin.SE3:
    """Raises ValueError for non-finite numbers or a quaternion far from unit length."""
    p, o = msg.position, msg.orientation
    position = np.array([p.x, p.y, p.z], dtype=float)
    quat = np.array([o.x, o.y, o.z, o.w], dtype=float)
    if not (np.all(np.isfinite(position)) and np.all(np.isfinite(quat))):
        raise ValueError("pose contains NaN/inf")
    norm = float(np.linalg.norm(quat))
    if abs(norm - 1.0) > 1e-2:
        raise ValueError(f"orientation quaternion has norm {norm:.3f}, expected 1")
    rotation = pin.Quaternion(*(quat[[3, 0, 1, 2]] / norm)).toRotationMatrix()  # ctor: w,x,y,z
    return pin.SE3(rotation, position)


def vector3_msg(v: np.ndarray) -> Vector3:
    return Vector3(x=float(v[0]), y=float(v[1]), z=float(v[2]))


def quaternion_msg(quat_wxyz: np.ndarray) -> Quaternion:
    """MuJoCo's wxyz quaternion as a geometry_msgs one (xyzw fields)."""
    w, x, y, z = (float(v) for v in quat_wxyz)
    return Quaternion(x=x, y=y, z=z, w=w)


def rotation_from_wxyz(quat_wxyz: np.ndarray) -> np.ndarray:
    """3x3 rotation of a (MuJoCo-ordered) wxyz quaternion."""
    w, x, y, z = (float(v) for v in quat_wxyz)
    return pin.Quaternion(w, x, y, z).normalized().toRotationMatrix()
