"""Legged controller node: the profile's gait (vla_controller.legged) stepped at the control rate in
ROS time by its own thread (not an rclpy timer), every command through the same safety filter as
the arm's (vla_controller.safety), one ros2_control forward command per joint group.

Inputs: /joint_states, /odom, /imu, /cmd_vel (geometry_msgs/Twist, base axes), /wbc/target
(`posture` tasks: stand | sit, as the profile's gait offers; `frame_pose` tasks for the profile's
end effectors that are not contacts, e.g. a humanoid's hands, only while standing: the
whole-body QP with the soles held, blended over the gait's standing command, see
vla_controller.legged.StandingReach; a REMOVE or a walk command on /cmd_vel brings the arm back
to the gait's pose before any step). Watchdogs: a /cmd_vel older than
`cmd_vel_timeout_s` means stand still; stale joint states or a lost /odom or /imu hold the last
command. Emergency stop (vla_controller.estop_interface): the gait is told to stand still and
posture changes and hand targets are refused until a reset; the legs keep balancing rather than
freeze mid-step, a reaching hand stops where it is.

The gait's clock is the physics' clock: each tick advances the gait by the sim time since the
previous tick (TickPacer without catch-up), one period normally, more when the loop woke late.
Never by a period per tick regardless: a starved loop then fell up to 0.2 s behind sim time and
played that part of the plan back in a burst, which tripped the humanoid (measured in the demo).
A single tick covers at most MAX_TICK_DT_S; the gait falls behind by anything more."""

import math
import threading
import time

import numpy as np
import pinocchio as pin
import rclpy
from builtin_interfaces.msg import Time
from geometry_msgs.msg import Twist
from nav_msgs.msg import Odometry
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.node import Node
from sensor_msgs.msg import Imu, JointState
from std_msgs.msg import Float64MultiArray

from vla_bringup.conversions import se3_from_pose_msg
from vla_bringup.node_runner import start_worker
from vla_bringup.profile import ODOM_FRAME, joint_groups, load_profile, resolve_path
from vla_controller.estop_interface import EmergencyStopInterface
from vla_controller.legged import (
    LeggedSensors,
    StandingReach,
    make_locomotion,
    reach_frames,
)
from vla_controller.robot_model import RobotModel
from vla_controller.safety import ESTOPPED, CommandSafety, HoldMode, RateMeter, TickPacer
from vla_stack.msg import WholeBodyState, WholeBodyTarget, WholeBodyTask, WholeBodyTaskState

STATE_PERIOD_TICKS = 10   # /wbc/state at control_rate / 10
MAX_TICK_DT_S = 0.05      # the most sim time one (late) tick advances the gait by
BASE_STATE_TIMEOUT_S = 0.5  # wall time without /odom or /imu: hold


# a body on a floor: larger readings are sensor garbage (or hostile), never state to act on
MAX_POSITION_M = 1.0e4
MAX_SPEED_MPS = 50.0
MAX_RATE_RADPS = 100.0


def _plausible(values: np.ndarray, bound: float) -> bool:
    return bool(np.all(np.isfinite(values)) and np.all(np.abs(values) <= bound))


def _finite(*values: float) -> bool:
    return all(math.isfinite(v) for v in values)


class LeggedControllerNode(Node):
    def __init__(self) -> None:
        super().__init__("wbc_controller")
        self.declare_parameter("robot_profile", "config/robots/quadruped.yaml")
        self.declare_parameter("speed_scale", 1.0)  # 0..1: walking speed and joint steps
        self.declare_parameter("joint_state_timeout_s", 0.5)  # wall time; older -> hold
        self.declare_parameter("cmd_vel_timeout_s", 0.5)  # wall time; older -> stand still
        self.declare_parameter("max_linear_speed_mps", 0.2)  # hand targets (frame_pose)
        self.declare_parameter("reach_blend_s", 1.0)  # gait <-> whole-body QP, sim time
        profile = load_profile(resolve_path(self.get_parameter("robot_profile").value))
        self.groups = joint_groups(profile)
        self.locomotion = make_locomotion(profile)
        self.joint_names = list(self.locomotion.joint_names)
        self.group_index = {g: [self.joint_names.index(j) for j in joints]
                            for g, joints in self.groups.items()}
        self.period_s = 1.0 / float(profile["control_rate_hz"])
        self.speed_scale = float(self.get_parameter("speed_scale").value)
        self.cmd_vel_timeout_s = float(self.get_parameter("cmd_vel_timeout_s").value)
        # the legs' limits come from the URDF through the same model the arm uses
        robot = RobotModel.from_urdf(profile["urdf"], self.joint_names,
                                     base_frame=profile["base_frame"])
        self.safety = CommandSafety(
            robot, self.period_s, speed_scale=self.speed_scale,
            joint_state_timeout_s=float(self.get_parameter("joint_state_timeout_s").value))

        self.lock = threading.Lock()
        self.joint_positions: dict[str, float] = {}
        self.joint_velocities: dict[str, float] = {}
        self.odom: tuple[np.ndarray, np.ndarray, float] | None = None  # position, v_base, t
        self.imu: tuple[np.ndarray, np.ndarray, float] | None = None   # quat wxyz, gyro, t
        self.cmd_twist = np.zeros(3)
        self.cmd_twist_at = -math.inf
        self.posture_task: WholeBodyTaskState | None = None
        self.base_frame = profile["base_frame"]
        self.reach = (StandingReach(profile, float(self.get_parameter("reach_blend_s").value))
                      if reach_frames(profile) else None)
        self.max_linear_speed_mps = self.speed_scale * float(
            self.get_parameter("max_linear_speed_mps").value)
        self.frame_tasks: dict[str, WholeBodyTaskState] = {}  # hand targets, by task name
        self.frozen_tasks: set[str] = set()  # their state no longer follows the QP's
        self.hold_mode = HoldMode()
        self.rate = RateMeter()
        self.pacer = TickPacer(self.period_s, catch_up=False)

        inputs = MutuallyExclusiveCallbackGroup()
        self.create_subscription(JointState, "/joint_states", self.on_joint_states, 10,
                                 callback_group=inputs)
        self.create_subscription(Odometry, "/odom", self.on_odom, 10, callback_group=inputs)
        self.create_subscription(Imu, "/imu", self.on_imu, 10, callback_group=inputs)
        commands = MutuallyExclusiveCallbackGroup()
        self.create_subscription(Twist, "/cmd_vel", self.on_cmd_vel, 10, callback_group=commands)
        self.create_subscription(WholeBodyTarget, "/wbc/target", self.on_target, 10,
                                 callback_group=commands)
        self.group_pubs = {g: self.create_publisher(Float64MultiArray, f"/{g}_controller/commands",
                                                    10) for g in self.groups}
        self.state_pub = self.create_publisher(WholeBodyState, "/wbc/state", 10)
        self.estop = EmergencyStopInterface(self, self.emergency_stop, self.safety.reset,
                                            lambda: self.safety.estopped)
        self.running = True
        self.thread = start_worker(self, self.control_loop, "legged_loop")

    # -- inputs ---------------------------------------------------------------------------
    def on_joint_states(self, msg: JointState) -> None:
        if len(msg.position) != len(msg.name):
            return
        positions = {n: p for n, p in zip(msg.name, msg.position, strict=True) if _finite(p)}
        velocities = {}
        if len(msg.velocity) == len(msg.name):
            velocities = {n: v for n, v in zip(msg.name, msg.velocity, strict=True) if _finite(v)}
        if not all(j in positions for j in self.joint_names):
            return
        with self.lock:
            self.joint_positions.update(positions)
            self.joint_velocities.update(velocities)
        self.safety.joint_state_received(time.monotonic())

    def on_odom(self, msg: Odometry) -> None:
        p, v = msg.pose.pose.position, msg.twist.twist.linear
        position, velocity = np.array([p.x, p.y, p.z]), np.array([v.x, v.y, v.z])
        if not (_plausible(position, MAX_POSITION_M) and _plausible(velocity, MAX_SPEED_MPS)):
            self.get_logger().warning("/odom ignored: non-finite or implausible values",
                                      throttle_duration_sec=2.0)
            return
        with self.lock:
            self.odom = (position, velocity, time.monotonic())

    def on_imu(self, msg: Imu) -> None:
        q, w = msg.orientation, msg.angular_velocity
        quat = np.array([q.w, q.x, q.y, q.z])
        rate = np.array([w.x, w.y, w.z])
        if not (_plausible(quat, 1.1) and 0.9 < np.linalg.norm(quat) < 1.1
                and _plausible(rate, MAX_RATE_RADPS)):
            self.get_logger().warning("/imu ignored: non-finite or implausible values",
                                      throttle_duration_sec=2.0)
            return
        with self.lock:
            self.imu = (quat / np.linalg.norm(quat), rate, time.monotonic())

    def on_cmd_vel(self, msg: Twist) -> None:
        twist = np.array([msg.linear.x, msg.linear.y, msg.angular.z])
        if not np.all(np.isfinite(twist)):
            self.get_logger().warning("/cmd_vel with NaN/inf ignored", throttle_duration_sec=2.0)
            return
        with self.lock:
            self.cmd_twist, self.cmd_twist_at = twist, time.monotonic()
        if (np.any(twist != 0.0) and self.reach is not None and not self.safety.estopped
                and self.reach.phase in ("in", "on", "frozen")):
            self.walk_interrupts_reach()

    def on_target(self, msg: WholeBodyTarget) -> None:
        for task in msg.tasks:
            state = WholeBodyTaskState(name=task.name, target_stamp=msg.header.stamp)
            posture = task.operation == WholeBodyTask.ADD_OR_UPDATE and task.type == "posture"
            try:
                if task.operation == WholeBodyTask.REMOVE:
                    self.remove_frame_task(task.name, state)
                elif task.operation != WholeBodyTask.ADD_OR_UPDATE or task.type not in (
                        "posture", "frame_pose"):
                    raise ValueError("a legged controller takes posture tasks (stand | sit) and "
                                     "frame_pose tasks for its hands; walking goes through "
                                     "/cmd_vel")
                elif self.safety.estopped:
                    raise ValueError("emergency stop active: call /emergency_stop/reset first")
                elif posture:
                    if self.reach is not None and self.reach.active:
                        raise ValueError("a hand target is active: REMOVE it first")
                    with self.lock:
                        self.locomotion.set_posture(task.posture)
                    state.state, state.message = "moving", f"to posture {task.posture!r}"
                else:
                    self.start_frame_task(task, msg.header.frame_id, state)
            except ValueError as exc:
                state.state, state.message = "rejected", str(exc)
                self.get_logger().warning(f"/wbc/target task {task.name[:40]!r} rejected: {exc}")
            with self.lock:
                if posture:
                    self.posture_task = state
                else:
                    self.frame_tasks[task.name] = state
                    if state.state == "rejected" or task.operation == WholeBodyTask.REMOVE:
                        self.frozen_tasks.add(task.name)
                    else:
                        self.frozen_tasks.discard(task.name)

    def start_frame_task(self, task: WholeBodyTask, frame_id: str,
                         state: WholeBodyTaskState) -> None:
        """A hand target, only while standing still; ValueError (nothing moves) otherwise."""
        if self.reach is None:
            raise ValueError("this robot has no end effector it can move while standing")
        if frame_id not in ("", ODOM_FRAME, self.base_frame):
            raise ValueError(f"targets must be in {ODOM_FRAME!r} or {self.base_frame!r}, "
                             f"got {frame_id!r}")
        target = se3_from_pose_msg(task.target_pose)  # ValueError for NaN/inf
        sensors, twist, why = self.sensors()
        if sensors is None:
            raise ValueError(f"no robot state: {why}")
        with self.lock:
            walking, posture = self.locomotion.walking, self.locomotion.posture
            settled = self.locomotion.posture_reached
        if walking or np.any(twist != 0.0):
            raise ValueError("walking: send a zero /cmd_vel and wait for the robot to stand "
                             "before reaching")
        if posture != "stand" or not settled:
            raise ValueError(f"in posture {posture!r}{'' if settled else ' (on the way)'}: "
                             "stand up before reaching")
        if frame_id == self.base_frame:  # base_link now, as /odom and /imu measure it
            base = pin.SE3(pin.Quaternion(*sensors.base_quat_wxyz).toRotationMatrix(),
                           sensors.base_position_odom_m)
            target = base * target
        speed = min(task.max_linear_speed_mps or self.max_linear_speed_mps,
                    self.max_linear_speed_mps)
        status = self.reach.start(task.name, task.frame, target, sensors, speed,
                                  task.orientation_weight)
        state.state, state.message = status.state, status.reason
        state.position_error_m = float(status.position_error_m)

    def remove_frame_task(self, name: str, state: WholeBodyTaskState) -> None:
        """Back to the gait's standing pose (also when nothing was reaching: it is there)."""
        if self.reach is not None and self.reach.active and self.safety.estopped:
            raise ValueError("emergency stop active: the hand stays where it stopped until "
                             "/emergency_stop/reset")
        if self.reach is not None:
            self.reach.release()
        state.state, state.message = "reached", "removed; back to the standing pose"

    def emergency_stop(self, source: str) -> bool:
        if not self.safety.estop(f"emergency stop from {source}"):
            return False
        if self.reach is not None:
            self.reach.freeze()
        with self.lock:
            for name, state in self.frame_tasks.items():
                if state.state in ("moving", "reached") and name not in self.frozen_tasks:
                    state.state, state.message = "unreachable", "emergency stop"
                    self.frozen_tasks.add(name)
        self.get_logger().error(f"EMERGENCY STOP from {source}: standing still")
        return True

    # -- fast loop --------------------------------------------------------------------------
    def sensors(self) -> tuple[LeggedSensors | None, np.ndarray, str | None]:
        """(sensors, commanded twist, why the loop must hold instead) under the lock."""
        now = time.monotonic()
        with self.lock:
            if self.odom is None or self.imu is None:
                return None, np.zeros(3), "holding: no /odom or /imu yet"
            if now - min(self.odom[2], self.imu[2]) > BASE_STATE_TIMEOUT_S:
                return None, np.zeros(3), "holding: stale /odom or /imu"
            fresh = now - self.cmd_twist_at <= self.cmd_vel_timeout_s
            twist = self.cmd_twist.copy() if fresh else np.zeros(3)
            sensors = LeggedSensors(
                dict(self.joint_positions), dict(self.joint_velocities), self.odom[0].copy(),
                self.imu[0].copy(), self.odom[1].copy(), self.imu[1].copy())
        return sensors, twist, None

    def control_loop(self) -> None:
        pacer = self.pacer
        ticks = 0
        while self.running and rclpy.ok():
            now_ns = self.get_clock().now().nanoseconds
            sleep_s = pacer.step(now_ns)
            if sleep_s > 0.0:
                time.sleep(sleep_s)
                continue
            q_cmd = self.safe_command(min(pacer.tick_dt_s, MAX_TICK_DT_S))
            if q_cmd is None:
                continue
            for group, index in self.group_index.items():
                self.group_pubs[group].publish(Float64MultiArray(data=q_cmd[index].tolist()))
            ticks += 1
            self.rate.tick(time.monotonic())
            if ticks % STATE_PERIOD_TICKS == 0:
                self.publish_state(q_cmd, now_ns)

    def safe_command(self, dt_s: float) -> np.ndarray | None:
        """This tick's joint command: the gait's, filtered; or the held one; None before any
        state arrived."""
        hold = self.safety.hold_reason(time.monotonic())
        if hold == ESTOPPED:
            hold = None  # a legged robot stops by standing still, not by freezing mid-step
            estopped = True
        else:
            estopped = False
        sensors, twist, why = self.sensors()
        hold = hold or why
        q_measured = None if sensors is None else self._measured(sensors)
        if hold is None and q_measured is not None:
            if estopped:
                twist = np.zeros(3)
            if self.reach is not None and self.reach.active:
                twist = np.zeros(3)  # the arm goes back first (see on_cmd_vel), then the steps
            try:
                with self.lock:
                    command = self.locomotion.update(sensors, twist * self.speed_scale, dt_s)
                q_gait = command.positions_rad
                if self.reach is not None:
                    q_gait = self.reach.blend(q_gait, command.names, sensors, dt_s)
                q_candidate = np.array([dict(zip(command.names, q_gait,
                                                 strict=True))[n] for n in self.joint_names])
                safe = self.safety.filter(q_candidate, q_measured, hold_on_estop=False,
                                          tick_dt_s=dt_s)
            except Exception as exc:  # noqa: BLE001 - the loop must survive and hold
                hold = f"holding: gait error: {exc}"
            else:
                if safe.reasons:
                    self.get_logger().warning(f"command changed: {'; '.join(safe.reasons)}",
                                              throttle_duration_sec=2.0)
                self.set_mode("estop: standing still" if estopped else None)
                return safe.q
        self.set_mode(hold)
        return self.safety.held_command(q_measured)

    def walk_interrupts_reach(self) -> None:
        self.reach.release()
        with self.lock:
            for name, state in self.frame_tasks.items():
                if name not in self.frozen_tasks:
                    state.state = "unreachable"
                    state.message = "walk command: back to the standing pose first"
                    self.frozen_tasks.add(name)
        self.get_logger().info("walk command while reaching: the arm goes back first")

    def _measured(self, sensors: LeggedSensors) -> np.ndarray | None:
        try:
            return np.array([sensors.joint_positions_rad[n] for n in self.joint_names])
        except KeyError:
            return None

    def set_mode(self, hold: str | None) -> None:
        change = self.hold_mode.change(hold)
        if change is None:
            return
        level, message = change
        # one call site per severity: rclpy refuses a call site whose severity changes
        if level == "info":
            self.get_logger().info(message)
        else:
            self.get_logger().warning(message)

    def publish_state(self, q_cmd: np.ndarray, now_ns: int) -> None:
        with self.lock:
            walking = self.locomotion.walking
            posture, reached = self.locomotion.posture, self.locomotion.posture_reached
            task = self.posture_task
            if task is not None and task.state == "moving" and reached:
                task.state, task.message = "reached", f"posture {posture!r}"
            frame_tasks = dict(self.frame_tasks)
            frozen = set(self.frozen_tasks)
        reaching = self.reach is not None and self.reach.active
        activity = "walking" if walking else "reaching" if reaching else posture
        mode = self.hold_mode.current or activity
        msg = WholeBodyState(mode=mode, loop_rate_hz=self.rate.rate_hz)
        msg.header.stamp = Time(sec=now_ns // 10**9, nanosec=now_ns % 10**9)
        msg.header.frame_id = ODOM_FRAME
        if task is not None:
            msg.tasks.append(task)
        for name, state in frame_tasks.items():
            live = None if name in frozen else self.reach.status(name)
            if live is not None:
                resyncs = self.reach.wbc.resync_count  # a robot that does not follow: say so
                state.state = live.state
                state.message = live.reason or (f"{resyncs} re-syncs to the measured state"
                                                if resyncs else "")
                state.position_error_m = float(live.position_error_m)
                state.orientation_error_rad = float(live.orientation_error_rad)
            msg.tasks.append(state)
        msg.command.name = self.joint_names
        msg.command.position = q_cmd.tolist()
        self.state_pub.publish(msg)

    def close(self) -> None:
        self.running = False
        self.thread.join(timeout=2.0)
        if self.pacer.late_ticks:
            self.get_logger().info(f"{self.pacer.late_ticks} ticks woke late and stood for "
                                   "more than one control period")
