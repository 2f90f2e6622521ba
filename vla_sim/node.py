"""MuJoCo world node: steps physics in its own thread, publishes state and camera, takes
ros2_control forward-controller commands, and judges goals from ground truth."""

import math
import threading
import time
from collections import deque

import numpy as np
import rclpy
from builtin_interfaces.msg import Time
from geometry_msgs.msg import Point, Pose, Twist
from nav_msgs.msg import Odometry
from rclpy.node import Node
from rclpy.parameter import Parameter
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import CameraInfo, Image, Imu, JointState
from std_msgs.msg import Float64MultiArray

from vla_bringup.conversions import quaternion_msg, rotation_from_wxyz, vector3_msg
from vla_bringup.node_runner import optional_parameter, run_node, start_worker
from vla_bringup.profile import ODOM_FRAME, joint_groups, load_profile, resolve_path
from vla_bringup.qos import SENSOR_QOS
from vla_sim.scene import jitter_scene, load_scene
from vla_sim.world import SimWorld
from vla_stack.srv import CheckGoal

MAX_LAG_S = 0.05  # wall seconds the physics may fall behind before sim time slips
LOCKSTEP_GIVE_UP_S = 0.5  # wall seconds without any command: the controller is gone, go on


def stamp_of(t_s: float) -> Time:
    sec = int(t_s)
    return Time(sec=sec, nanosec=int(round((t_s - sec) * 1e9)) % 1_000_000_000)


class CommandInput:
    """Latest forward-controller command for one joint group, with a velocity feed-forward
    estimated from the commands (position actuators otherwise lag a moving target).

    The estimate spans at least VELOCITY_WINDOW_S of sim time: a controller that falls behind
    sends a burst of commands within one physics step, and the difference of two of them over
    that step would be a huge, wrong velocity (a kick through the feed-forward)."""

    VELOCITY_WINDOW_S = 0.01

    def __init__(self, joint_names: list[str]):
        self.joint_names = joint_names
        self.positions: np.ndarray | None = None
        self.velocities = np.zeros(len(joint_names))
        self._history: deque[tuple[float, np.ndarray]] = deque(maxlen=64)

    def accept(self, data: list[float], t_s: float) -> str | None:
        """Store a command; returns why it was refused, or None."""
        q = np.asarray(data, dtype=float)
        if q.shape != (len(self.joint_names),):
            names = ", ".join(self.joint_names)
            return f"expected {len(self.joint_names)} values ({names}), got {q.size}"
        if not np.all(np.isfinite(q)):
            return "command contains NaN/inf"
        if self._history and t_s < self._history[-1][0]:
            self._history.clear()  # sim reset
        older = [(t, p) for t, p in self._history if t_s - t >= self.VELOCITY_WINDOW_S]
        if older:
            t_old, q_old = older[-1]
            with np.errstate(over="ignore", invalid="ignore"):
                velocities = (q - q_old) / (t_s - t_old)
            # finite but absurd commands (1e300 then -1e300) overflow: no feed-forward then
            self.velocities = np.where(np.isfinite(velocities), velocities, 0.0)
        self._history.append((t_s, q))
        self.positions = q
        return None


class MujocoSimNode(Node):
    def __init__(self) -> None:
        super().__init__("mujoco_sim")
        self.declare_parameter("robot_profile", "config/robots/arm.yaml")
        self.declare_parameter("scene", "")
        self.declare_parameter("real_time_factor", 1.0)
        self.declare_parameter("clock_rate_hz", 250.0)
        self.declare_parameter("seed", 0)  # 0: the scene as written; else objects nudged
        # lockstep: physics waits while the newest command is older than this in sim time, as
        # if the controller ran inside the physics step (ros2_control in Gazebo); 0: never waits
        # (default: the profile's `sim_max_command_age_s`, else 0)
        self.declare_parameter("max_command_age_s", Parameter.Type.DOUBLE)
        # floating base: start at [x, y, yaw] (m, m, rad) on the floor instead of the origin
        self.declare_parameter("start_pose", Parameter.Type.DOUBLE_ARRAY)
        profile = load_profile(resolve_path(self.get_parameter("robot_profile").value))
        scene_path = self.get_parameter("scene").value or profile["default_scene"]
        scene = load_scene(resolve_path(scene_path))
        if self.get_parameter("seed").value:
            scene = jitter_scene(scene, int(self.get_parameter("seed").value))
        self.world = SimWorld(profile, scene)
        start_pose = optional_parameter(self, "start_pose")  # None: the scene's origin
        if start_pose is not None:
            self.place_robot(list(start_pose))
        self.rtf = float(self.get_parameter("real_time_factor").value)
        self.clock_period_s = 1.0 / float(self.get_parameter("clock_rate_hz").value)
        self.joint_state_period_s = 1.0 / float(profile.get("joint_state_rate_hz", 100.0))
        self.camera_period_s = 1.0 / float(profile.get("camera_rate_hz", 5.0))
        self.camera_frame = profile["camera"]["frame_id"]
        # ros2_control forward-controller convention: one /<group>_controller/commands per group
        self.inputs = {f"{group}_controller": CommandInput(joints)
                       for group, joints in joint_groups(profile).items()}
        self.base_frame = profile.get("base_frame", "base_link")
        self.lock = threading.Lock()
        self.clock_pub = self.create_publisher(Clock, "/clock", 10)
        self.joint_pub = self.create_publisher(JointState, "/joint_states", 10)
        if self.world.floating_base:  # ground-truth odometry and an IMU on the base
            self.odom_pub = self.create_publisher(Odometry, "/odom", 10)
            self.imu_pub = self.create_publisher(Imu, "/imu", 10)
        self.rgb_pub = self.create_publisher(Image, "/camera/color/image_raw", SENSOR_QOS)
        self.depth_pub = self.create_publisher(Image, "/camera/depth/image_raw", SENSOR_QOS)
        self.info_pub = self.create_publisher(CameraInfo, "/camera/color/camera_info", SENSOR_QOS)
        for controller in self.inputs:
            self.create_subscription(
                Float64MultiArray, f"/{controller}/commands",
                lambda msg, c=controller: self.on_command(c, msg), 10)
        self.create_service(CheckGoal, "/sim/check_goal", self.on_check_goal)
        self.slips = 0  # times the physics fell more than MAX_LAG_S behind wall time
        max_age_s = optional_parameter(self, "max_command_age_s")
        self.max_command_age_s = float(profile.get("sim_max_command_age_s", 0.0)
                                       if max_age_s is None else max_age_s)
        self.command_arrived = threading.Event()
        self.last_command_t_s: float | None = None  # sim time of the newest accepted command
        self.last_command_wall_s = 0.0
        self.lockstep_waits, self.lockstep_wait_s = 0, 0.0
        self.running = True
        self.thread = start_worker(self, self.physics_loop, "physics")
        self.get_logger().info(
            f"MuJoCo world up: {len(self.world.object_names)} objects, "
            f"dt={self.world.physics_dt_s * 1e3:.1f} ms, real_time_factor={self.rtf}")

    def place_robot(self, pose_xy_yaw: list[float]) -> None:
        """Put a floating base at [x, y, yaw] at its standing height; ValueError otherwise."""
        if not self.world.floating_base:
            raise ValueError("start_pose: only a floating-base robot can be placed")
        if len(pose_xy_yaw) != 3 or not all(math.isfinite(v) for v in pose_xy_yaw):
            raise ValueError(f"start_pose must be 3 finite numbers [x, y, yaw], got {pose_xy_yaw}")
        x, y, yaw = pose_xy_yaw
        z = float(self.world.robot_base_pose()[0][2])
        self.world.set_robot_base_pose([x, y, z], [math.cos(yaw / 2), 0.0, 0.0, math.sin(yaw / 2)])

    def on_command(self, controller: str, msg: Float64MultiArray) -> None:
        with self.lock:
            problem = self.inputs[controller].accept(list(msg.data), self.world.time_s)
            if not problem:
                self.last_command_t_s = self.world.time_s
                self.last_command_wall_s = time.monotonic()
                self.command_arrived.set()
        if problem:
            self.get_logger().warning(f"/{controller}/commands refused: {problem}",
                                   throttle_duration_sec=2.0)

    def on_check_goal(self, request: CheckGoal.Request, response: CheckGoal.Response):
        try:
            with self.lock:
                response.holds, response.detail = self.world.check_goal(request.goal)
            response.valid = True
        except ValueError as exc:
            response.valid, response.holds, response.detail = False, False, str(exc)
        return response

    def physics_loop(self) -> None:
        try:
            self.run_physics()
        finally:
            with self.lock:
                self.world.close()  # the EGL context belongs to this thread: free it here

    def run_physics(self) -> None:
        next_clock = next_joints = next_camera = 0.0
        wall_start, sim_start = time.monotonic(), self.world.time_s
        while self.running and rclpy.ok():
            if self.wait_for_commands():
                wall_start, sim_start = time.monotonic(), self.world.time_s
            with self.lock:
                for command in self.inputs.values():
                    if command.positions is not None:
                        self.world.set_joint_targets(
                            command.joint_names, command.positions, command.velocities)
                self.world.step()
                t_s = self.world.time_s
            if t_s >= next_clock:
                self.clock_pub.publish(Clock(clock=stamp_of(t_s)))
                next_clock = t_s + self.clock_period_s
            if t_s >= next_joints:
                self.publish_joint_states(t_s)
                if self.world.floating_base:
                    self.publish_base_state(t_s)
                next_joints = t_s + self.joint_state_period_s
            if t_s >= next_camera:
                self.publish_camera(t_s)
                next_camera = t_s + self.camera_period_s
            if self.rtf > 0.0:
                ahead_s = wall_start + (t_s - sim_start) / self.rtf - time.monotonic()
                if ahead_s > 0.0:
                    time.sleep(ahead_s)
                elif ahead_s < -MAX_LAG_S:
                    # starved of CPU: let sim time slip behind wall time rather than run a
                    # burst of physics on stale commands (what Gazebo does: RTF drops below 1)
                    wall_start, sim_start = time.monotonic(), t_s
                    self.slips += 1

    def wait_for_commands(self) -> bool:
        """Lockstep: hold the physics while the controller's newest command is too old in sim
        time (it is late: starved of CPU, or a camera frame took the physics thread), so a late
        controller slows the world instead of the robot running on stale commands. True if it
        waited. Not before the first command, nor once the controller has been silent for
        LOCKSTEP_GIVE_UP_S: a stopped controller must not freeze the world."""
        if self.max_command_age_s <= 0.0 or self.last_command_t_s is None:
            return False
        started = time.monotonic()
        while (self.running and self.world.time_s - self.last_command_t_s > self.max_command_age_s
               and time.monotonic() - self.last_command_wall_s < LOCKSTEP_GIVE_UP_S):
            self.command_arrived.clear()
            self.command_arrived.wait(timeout=0.005)
        waited_s = time.monotonic() - started
        if waited_s > 1e-4:
            self.lockstep_waits += 1
            self.lockstep_wait_s += waited_s
            return True
        return False

    def publish_joint_states(self, t_s: float) -> None:
        with self.lock:
            msg = JointState(name=list(self.world.joint_names),
                             position=self.world.joint_positions().tolist(),
                             velocity=self.world.joint_velocities().tolist(),
                             effort=self.world.joint_efforts().tolist())
        msg.header.stamp = stamp_of(t_s)
        self.joint_pub.publish(msg)

    def publish_base_state(self, t_s: float) -> None:
        """/odom (REP 105: pose in `odom` = the world, twist in base_link axes) and /imu."""
        with self.lock:
            xyz, quat_wxyz = self.world.robot_base_pose()
            linear_world, angular_world = self.world.robot_base_velocity()
            _, gyro_base, accel_base = self.world.imu()
        world_from_base = rotation_from_wxyz(quat_wxyz)
        odom = Odometry(child_frame_id=self.base_frame)
        odom.header.frame_id = ODOM_FRAME
        odom.pose.pose = Pose(position=Point(x=xyz[0], y=xyz[1], z=xyz[2]),
                              orientation=quaternion_msg(quat_wxyz))
        odom.twist.twist = Twist(linear=vector3_msg(world_from_base.T @ linear_world),
                                 angular=vector3_msg(world_from_base.T @ angular_world))
        imu = Imu(orientation=quaternion_msg(quat_wxyz), angular_velocity=vector3_msg(gyro_base),
                  linear_acceleration=vector3_msg(accel_base))
        imu.header.frame_id = self.base_frame
        odom.header.stamp = imu.header.stamp = stamp_of(t_s)
        self.odom_pub.publish(odom)
        self.imu_pub.publish(imu)

    def publish_camera(self, t_s: float) -> None:
        with self.lock:
            rgb, depth_m = self.world.render_rgbd()
        camera = self.world.camera
        stamp = stamp_of(t_s)
        height, width = depth_m.shape
        rgb_msg = Image(height=height, width=width, encoding="rgb8", step=width * 3,
                        data=np.ascontiguousarray(rgb, dtype=np.uint8).tobytes())
        depth_msg = Image(height=height, width=width, encoding="32FC1", step=width * 4,
                          data=np.ascontiguousarray(depth_m, dtype=np.float32).tobytes())
        info = CameraInfo(height=height, width=width, distortion_model="plumb_bob",
                          d=[0.0] * 5, k=camera.K.flatten().tolist(),
                          r=np.eye(3).flatten().tolist(),
                          p=np.hstack([camera.K, np.zeros((3, 1))]).flatten().tolist())
        for msg in (rgb_msg, depth_msg, info):
            msg.header.stamp = stamp
            msg.header.frame_id = self.camera_frame
        self.rgb_pub.publish(rgb_msg)
        self.depth_pub.publish(depth_msg)
        self.info_pub.publish(info)

    def close(self) -> None:
        self.running = False
        self.thread.join(timeout=2.0)
        if self.slips:
            self.get_logger().info(f"sim time slipped behind wall time {self.slips} times "
                                   f"(CPU starved for > {MAX_LAG_S * 1e3:.0f} ms)")
        if self.lockstep_waits:
            self.get_logger().info(f"lockstep: waited {self.lockstep_waits} times for the "
                                   f"controller, {self.lockstep_wait_s:.2f} s in all")


def main(args: list[str] | None = None) -> None:
    run_node(MujocoSimNode, args, threads=1)


if __name__ == "__main__":
    main()
