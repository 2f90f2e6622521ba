"""Perception node: RGB-D frames -> /perception/objects and RViz markers, in the base frame
(fixed-base arm) or in `odom` (floating base: the camera moves with the robot, the objects do not).
Only the camera images, the robot's joint states and /odom are used (no ground truth)."""

import threading
from collections import deque

import numpy as np
from nav_msgs.msg import Odometry
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.node import Node
from sensor_msgs.msg import CameraInfo, Image, JointState
from visualization_msgs.msg import MarkerArray

from vla_bringup.conversions import se3_from_pose_msg
from vla_bringup.markers import object_markers, object_transforms, odom_transform, tf_broadcaster
from vla_bringup.node_runner import run_node
from vla_bringup.profile import ODOM_FRAME, load_profile, resolve_path
from vla_bringup.qos import SENSOR_QOS
from vla_perception.camera_model import CameraModel
from vla_perception.detector import DetectorConfig, ObjectDetector
from vla_perception.geometry import PinholeView
from vla_perception.memory import ObjectMemory, Remembered
from vla_perception.robot_mask import RobotBodyModel
from vla_sim.scene import load_scene
from vla_stack.msg import SceneObject, SceneObjects


def image_to_array(msg: Image) -> np.ndarray:
    """rgb8/bgr8 -> HxWx3 uint8 RGB; 32FC1 (m) / 16UC1 (mm) -> HxW float32 metres."""
    h, w = msg.height, msg.width
    layouts = {"rgb8": (np.uint8, 3), "bgr8": (np.uint8, 3), "32FC1": (np.float32, 1),
               "16UC1": (np.uint16, 1)}
    if msg.encoding not in layouts:
        raise ValueError(f"unsupported encoding {msg.encoding!r}")
    dtype, channels = layouts[msg.encoding]
    row_bytes = w * channels * np.dtype(dtype).itemsize
    if h == 0 or w == 0 or msg.step < row_bytes or len(msg.data) != msg.step * h:
        raise ValueError(f"{msg.encoding} image {w}x{h}, step {msg.step}: size mismatch "
                         f"({len(msg.data)} bytes)")
    rows = np.frombuffer(msg.data, dtype=np.uint8).reshape(h, msg.step)[:, :row_bytes]
    array = rows.copy().view(dtype).reshape(h, w, channels) if channels > 1 else \
        rows.copy().view(dtype).reshape(h, w)
    if msg.encoding == "bgr8":
        array = array[:, :, ::-1].copy()
    if msg.encoding == "16UC1":
        array = array.astype(np.float32) / 1000.0
    return array


class PerceptionNode(Node):
    def __init__(self) -> None:
        super().__init__("perception")
        self.declare_parameter("robot_profile", "config/robots/arm.yaml")
        self.declare_parameter("memory_s", 30.0)
        # the map: a YAML with `landmarks:` (a scene file will do; only its landmarks are read).
        # "" = the profile's default scene for a floating base, none for an arm
        self.declare_parameter("map_file", "")
        # odom -> base_link on TF from /odom, for RViz (off where the robot's estimator does it)
        self.declare_parameter("publish_odom_tf", True)
        profile = load_profile(resolve_path(self.get_parameter("robot_profile").value))
        self.camera = CameraModel.from_profile(profile["camera"])
        self.base_frame = profile["base_frame"]
        self.floating_base = bool(profile.get("floating_base"))
        self.objects_frame = ODOM_FRAME if self.floating_base else self.base_frame
        self.detector = ObjectDetector(self.camera,
                                       DetectorConfig.from_profile(profile.get("perception")))
        self.robot_body = RobotBodyModel(profile["urdf"], self.base_frame)
        self.memory = ObjectMemory(float(self.get_parameter("memory_s").value))
        self.landmarks = self.load_landmarks(profile)
        self.lock = threading.Lock()
        # recent joint states, so the robot is masked where it was when the image was taken
        self.joint_history: deque[tuple[float, dict[str, float]]] = deque(maxlen=200)
        self.base_history: deque[tuple[float, np.ndarray]] = deque(maxlen=200)  # T_odom_base
        self.latest: dict[str, Image] = {}
        images = MutuallyExclusiveCallbackGroup()
        self.create_subscription(Image, "/camera/color/image_raw",
                                 lambda m: self.on_image("rgb", m), SENSOR_QOS,
                                 callback_group=images)
        self.create_subscription(Image, "/camera/depth/image_raw",
                                 lambda m: self.on_image("depth", m), SENSOR_QOS,
                                 callback_group=images)
        self.create_subscription(CameraInfo, "/camera/color/camera_info", self.on_info,
                                 SENSOR_QOS)
        self.create_subscription(JointState, "/joint_states", self.on_joint_states, 10)
        if self.floating_base:
            self.create_subscription(Odometry, "/odom", self.on_odom, 10)
        self.objects_pub = self.create_publisher(SceneObjects, "/perception/objects", 10)
        self.markers_pub = self.create_publisher(MarkerArray, "/perception/markers", 10)
        self.send_tf = tf_broadcaster(self)   # None without tf2_ros: markers only
        self.odom_tf = bool(self.get_parameter("publish_odom_tf").value)

    def load_landmarks(self, profile: dict) -> list[SceneObject]:
        """Places on the map, published with the objects as kind `landmark` (not perceived)."""
        path = self.get_parameter("map_file").value or (
            profile.get("default_scene", "") if self.floating_base else "")
        if not path:
            return []
        entries = []
        for mark in load_scene(resolve_path(path)).landmarks:
            entry = SceneObject(name=mark.name, description=mark.name.replace("_", " "),
                                shape="landmark", kind="landmark", confidence=1.0)
            entry.pose.position.x, entry.pose.position.y = mark.position_m
            entry.pose.orientation.z = float(np.sin(mark.yaw_rad / 2.0))
            entry.pose.orientation.w = float(np.cos(mark.yaw_rad / 2.0))
            entries.append(entry)
        return entries

    def on_info(self, msg: CameraInfo) -> None:
        k = np.asarray(msg.k, dtype=float).reshape(3, 3) if len(msg.k) == 9 else None
        if k is None or (msg.width, msg.height) != (self.camera.width, self.camera.height) \
                or not np.allclose(k, self.camera.K, rtol=1e-3):
            self.get_logger().warning("camera_info disagrees with the profile's camera model",
                                   throttle_duration_sec=10.0)

    def on_joint_states(self, msg: JointState) -> None:
        if len(msg.name) != len(msg.position):
            return
        positions = {n: p for n, p in zip(msg.name, msg.position, strict=True)
                     if np.isfinite(p)}
        t_s = msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9
        with self.lock:
            if self.joint_history and t_s < self.joint_history[-1][0]:
                self.joint_history.clear()  # clock went backwards
            self.joint_history.append((t_s, positions))

    def on_odom(self, msg: Odometry) -> None:
        try:
            T_odom_base = se3_from_pose_msg(msg.pose.pose).homogeneous
        except ValueError as exc:
            self.get_logger().warning(f"/odom ignored: {exc}", throttle_duration_sec=5.0)
            return
        if self.send_tf is not None and self.odom_tf:
            self.send_tf(odom_transform(msg))
        t_s = msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9
        with self.lock:
            if self.base_history and t_s < self.base_history[-1][0]:
                self.base_history.clear()  # clock went backwards
            self.base_history.append((t_s, T_odom_base))

    @staticmethod
    def nearest(history: deque, t_s: float, max_gap_s: float = 0.1):
        """The entry of a (stamp, value) history closest to t_s, if within max_gap_s."""
        if not history:
            return None
        stamp, value = min(history, key=lambda entry: abs(entry[0] - t_s))
        return value if abs(stamp - t_s) <= max_gap_s else None

    def joints_at(self, t_s: float) -> dict[str, float] | None:
        with self.lock:
            return self.nearest(self.joint_history, t_s, max_gap_s=1.0)

    def on_image(self, which: str, msg: Image) -> None:
        self.latest[which] = msg
        rgb_msg, depth_msg = self.latest.get("rgb"), self.latest.get("depth")
        if rgb_msg is None or depth_msg is None or rgb_msg.header.stamp != depth_msg.header.stamp:
            return
        self.latest.clear()
        try:
            rgb, depth_m = image_to_array(rgb_msg), image_to_array(depth_msg)
            if rgb.ndim != 3 or depth_m.ndim != 2:
                raise ValueError("expected a colour image and a single-channel depth image")
            for image in (rgb, depth_m):
                if image.shape[:2] != (self.camera.height, self.camera.width):
                    raise ValueError(f"image is {image.shape[1]}x{image.shape[0]}, the camera "
                                     f"model {self.camera.width}x{self.camera.height}")
            t_s = rgb_msg.header.stamp.sec + rgb_msg.header.stamp.nanosec * 1e-9
            joints = self.joints_at(t_s)
            if joints is None:
                # without the arm's pose it cannot be masked out and would look like objects
                raise ValueError("no /joint_states yet")
            T_frame_base = None
            if self.floating_base:
                with self.lock:
                    T_frame_base = self.nearest(self.base_history, t_s)
                if T_frame_base is None:
                    raise ValueError("no /odom near the image stamp: the camera pose is unknown")
                self.detector.view = PinholeView(self.camera.K,
                                                 T_frame_base @ self.camera.T_base_optical,
                                                 self.camera.width, self.camera.height)
            body = self.robot_body.posed(joints, T_frame_base=T_frame_base)
            detections = self.detector.detect(rgb, depth_m, point_exclusion=body)
        except ValueError as exc:
            self.get_logger().warning(f"frame dropped: {exc}", throttle_duration_sec=5.0)
            return
        self.publish(self.memory.update(detections, t_s), rgb_msg.header.stamp)

    def publish(self, known: list[Remembered], stamp) -> None:
        msg = SceneObjects()
        msg.header.stamp, msg.header.frame_id = stamp, self.objects_frame
        for memory in known:
            obj = memory.obj
            entry = SceneObject(name=obj.name, description=obj.description, shape=obj.shape,
                                color=obj.color, kind=obj.kind,
                                confidence=float(obj.confidence if memory.visible else
                                                 min(obj.confidence, 0.3)))
            entry.rgba.r, entry.rgba.g, entry.rgba.b = (float(c) for c in obj.rgb)
            entry.rgba.a = 1.0
            p = entry.pose.position
            p.x, p.y, p.z = (float(v) for v in obj.position_base_m)
            entry.pose.orientation.z = float(np.sin(obj.yaw_rad / 2.0))
            entry.pose.orientation.w = float(np.cos(obj.yaw_rad / 2.0))
            entry.size.x, entry.size.y, entry.size.z = (float(v) for v in obj.size_m)
            msg.objects.append(entry)
        msg.objects.extend(self.landmarks)
        self.objects_pub.publish(msg)
        self.markers_pub.publish(object_markers(msg))
        if self.send_tf is not None:
            self.send_tf(object_transforms(msg))


def main(args: list[str] | None = None) -> None:
    run_node(PerceptionNode, args)


if __name__ == "__main__":
    main()
