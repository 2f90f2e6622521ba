"""Whole-body controller node: a fast loop in its own thread (not an rclpy timer) steps the
WholeBodyController at the profile's control rate in ROS time (sim time under use_sim_time),
passes each command through the safety layer (vla_controller.safety) and publishes ros2_control
forward-controller commands.

Emergency stop: vla_controller.estop_interface (topic, services, latched state); a stop holds the
arm and gripper where they are until a reset and a new target.

Silent commander: whoever sends a frame target repeats it (same stamp, same task: a keep-alive,
not a new goal) while the arm moves to it; a moving task not repeated for `commander_timeout_s`
(wall time) makes the arm hold where it is, so a crashed skill server does not leave the arm
travelling on its own."""

import threading
import time

import numpy as np
import rclpy
from builtin_interfaces.msg import Time
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.node import Node
from rclpy.parameter import Parameter
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64MultiArray

from vla_bringup.conversions import se3_from_pose_msg
from vla_bringup.heartbeat import HeartbeatMonitor
from vla_bringup.node_runner import optional_parameter, run_node, start_worker
from vla_bringup.profile import load_profile, resolve_path
from vla_controller.estop_interface import EmergencyStopInterface
from vla_controller.robot_model import RobotModel
from vla_controller.safety import (
    ESTOPPED,
    CommandSafety,
    HoldMode,
    RateMeter,
    TickPacer,
    WorkspaceBox,
)
from vla_controller.wbc import WholeBodyController
from vla_stack.msg import WholeBodyState, WholeBodyTarget, WholeBodyTask, WholeBodyTaskState

STATE_PERIOD_TICKS = 10  # /wbc/state at control_rate / 10
GRIPPER_PERIOD_TICKS = 5
# the latest e-stop state for late joiners (planner, UIs): subscribe with the same profile


class WbcControllerNode(Node):
    def __init__(self) -> None:
        super().__init__("wbc_controller")
        self.declare_parameter("robot_profile", "config/robots/arm.yaml")
        self.declare_parameter("max_linear_speed_mps", 0.25)
        self.declare_parameter("max_angular_speed_radps", 1.0)
        self.declare_parameter("speed_scale", 1.0)  # 0..1: slows everything (first hardware runs)
        self.declare_parameter("joint_state_timeout_s", 0.5)  # wall time; older -> hold
        # wall time without a repeat of a moving frame target -> hold (0: never)
        self.declare_parameter("commander_timeout_s", 2.0)
        self.declare_parameter("workspace_min_base_m", Parameter.Type.DOUBLE_ARRAY)
        self.declare_parameter("workspace_max_base_m", Parameter.Type.DOUBLE_ARRAY)
        profile = load_profile(resolve_path(self.get_parameter("robot_profile").value))
        self.arm_joints = list(profile["arm_joints"])
        self.gripper_joints = list(profile["gripper_joints"])
        self.gripper_range_m = sorted(
            [float(profile["gripper_closed_m"]), float(profile["gripper_open_m"])]
        )
        self.base_frame = profile["base_frame"]
        self.period_s = 1.0 / float(profile["control_rate_hz"])
        self.check_period_s = STATE_PERIOD_TICKS * self.period_s
        robot = RobotModel.from_urdf(
            profile["urdf"],
            self.arm_joints,
            base_frame=self.base_frame,
            tool_frame=profile["tool_frame"],
        )
        speed_scale = float(self.get_parameter("speed_scale").value)
        self.safety = CommandSafety(
            robot,
            self.period_s,
            tool_frame=profile["tool_frame"],
            speed_scale=speed_scale,
            workspace=self.workspace_box(profile),
            joint_state_timeout_s=float(self.get_parameter("joint_state_timeout_s").value),
        )
        self.wbc = WholeBodyController(
            robot, profile["tool_frame"], self.period_s, velocity_scale=speed_scale
        )
        self.default_speeds = (
            speed_scale * float(self.get_parameter("max_linear_speed_mps").value),
            speed_scale * float(self.get_parameter("max_angular_speed_radps").value),
        )
        self.lock = threading.Lock()
        self.q_measured: np.ndarray | None = None
        self.gripper_command: list[float] | None = None
        self.task_states: dict[str, WholeBodyTaskState] = {}
        self.rate = RateMeter()
        self.hold_mode = HoldMode()
        self.estop_latched_ns: int | None = None  # ROS time of the latch, until the first hold
        self.stopped_tasks: set[str] = set()  # tasks cut short (e-stop, silent commander)
        # the last (stamp, frame, task) taken per task name: an identical one is a keep-alive
        self.taken: dict[str, tuple] = {}
        commander_timeout_s = float(self.get_parameter("commander_timeout_s").value)
        if not (commander_timeout_s == 0.0 or commander_timeout_s > 4 * self.check_period_s):
            raise ValueError(f"commander_timeout_s must be 0 (off) or above "
                             f"{4 * self.check_period_s} s, got {commander_timeout_s}")
        self.commanders = (HeartbeatMonitor(commander_timeout_s, self.check_period_s)
                           if commander_timeout_s > 0.0 else None)

        inputs = MutuallyExclusiveCallbackGroup()
        self.create_subscription(
            JointState, "/joint_states", self.on_joint_states, 10, callback_group=inputs
        )
        self.create_subscription(
            WholeBodyTarget,
            "/wbc/target",
            self.on_target,
            10,
            callback_group=MutuallyExclusiveCallbackGroup(),
        )
        self.arm_pub = self.create_publisher(Float64MultiArray, "/arm_controller/commands", 10)
        self.gripper_pub = self.create_publisher(
            Float64MultiArray, "/gripper_controller/commands", 10
        )
        self.state_pub = self.create_publisher(WholeBodyState, "/wbc/state", 10)
        self.estop = EmergencyStopInterface(self, self.emergency_stop, self.safety.reset,
                                            lambda: self.safety.estopped)
        self.running = True
        self.thread = start_worker(self, self.control_loop, "wbc_loop")

    # -- inputs ---------------------------------------------------------------------------
    def on_joint_states(self, msg: JointState) -> None:
        if len(msg.position) != len(msg.name):
            return
        by_name = dict(zip(msg.name, msg.position, strict=True))
        if all(j in by_name for j in self.arm_joints):
            q = np.array([by_name[j] for j in self.arm_joints], dtype=float)
            if np.all(np.isfinite(q)):
                with self.lock:
                    self.q_measured = q
                self.safety.joint_state_received(time.monotonic())

    def workspace_box(self, profile: dict) -> WorkspaceBox | None:
        """The tool's workspace box: node parameters, else the profile's `workspace_box_base_m`."""
        lo = optional_parameter(self, "workspace_min_base_m")
        hi = optional_parameter(self, "workspace_max_base_m")
        if lo is None and hi is None and "workspace_box_base_m" in profile:
            lo, hi = profile["workspace_box_base_m"]["min"], profile["workspace_box_base_m"]["max"]
        if lo is None and hi is None:
            self.get_logger().warning("no workspace box configured: the tool is not boxed in")
            return None
        return WorkspaceBox.from_bounds(lo or [], hi or [])

    def emergency_stop(self, source: str) -> bool:
        """Latch the stop (the loop holds from its next tick on); True if newly latched."""
        latched_ns = self.get_clock().now().nanoseconds
        if not self.safety.estop(f"emergency stop from {source}"):
            return False
        self.estop_latched_ns = latched_ns
        self.wbc.hold()  # after a reset the arm stays where it stopped until a new target
        with self.lock:
            for name, state in self.task_states.items():
                if state.state in ("moving", "reached"):
                    state.state, state.message = "unreachable", "emergency stop"
                    self.stopped_tasks.add(name)
        self.get_logger().error(f"EMERGENCY STOP from {source}: holding the arm and gripper")
        return True

    def on_target(self, msg: WholeBodyTarget) -> None:
        for task in msg.tasks:
            taken = (msg.header.stamp, msg.header.frame_id, task)
            repeat = task.operation == WholeBodyTask.ADD_OR_UPDATE and self.taken.get(
                task.name) == taken
            self.taken[task.name] = taken
            if self.commanders is not None:
                with self.lock:
                    if task.operation == WholeBodyTask.REMOVE:
                        self.commanders.forget(task.name)
                    else:
                        self.commanders.heard(task.name, time.monotonic())
            if repeat:
                continue  # a keep-alive: the goal (and its trajectory) stays as it is
            state = WholeBodyTaskState(name=task.name, target_stamp=msg.header.stamp)
            try:
                if self.safety.estopped and task.operation != WholeBodyTask.REMOVE:
                    raise ValueError("emergency stop active: call /emergency_stop/reset first")
                if msg.header.frame_id not in ("", self.base_frame):
                    raise ValueError(
                        f"targets must be in {self.base_frame!r}, got {msg.header.frame_id!r}"
                    )
                self.apply(task, state)
            except ValueError as exc:
                state.state, state.message = "rejected", str(exc)
                self.get_logger().warning(f"/wbc/target task {task.name[:40]!r} rejected: {exc}")
            with self.lock:
                self.task_states[task.name] = state
                self.stopped_tasks.discard(task.name)

    def apply(self, task: WholeBodyTask, state: WholeBodyTaskState) -> None:
        """Hand one task to the controller; ValueError leaves everything as it was."""
        if task.operation == WholeBodyTask.REMOVE:
            if task.name in self.wbc.status():
                self.wbc.remove_task(task.name)
            self.wbc.hold()  # nothing drives the arm now: stay where the command is
            state.state, state.message = "reached", "removed; holding"
        elif task.operation != WholeBodyTask.ADD_OR_UPDATE:
            raise ValueError(f"unknown operation {task.operation}")
        elif task.type == "frame_pose":
            if task.frame == self.wbc.tool_frame:
                position = task.target_pose.position
                self.safety.check_target_position([position.x, position.y, position.z])
            linear = task.max_linear_speed_mps or self.default_speeds[0]
            angular = task.max_angular_speed_radps or self.default_speeds[1]
            status = self.wbc.set_frame_target(
                task.name,
                task.frame,
                se3_from_pose_msg(task.target_pose),
                max_linear_speed_mps=min(linear, self.default_speeds[0]),
                max_angular_speed_radps=min(angular, self.default_speeds[1]),
                position_weight=task.position_weight or 1.0,
                orientation_weight=task.orientation_weight,
            )
            state.state, state.message = status.state, status.reason
        elif task.type == "joint_position":
            positions = list(task.joint_target.positions)
            if list(task.joint_names) != self.gripper_joints or len(positions) != len(
                self.gripper_joints
            ):
                raise ValueError(
                    f"joint_position tasks drive {self.gripper_joints} only, with one position each"
                )
            if not np.all(np.isfinite(positions)):
                raise ValueError("joint positions contain NaN/inf")
            with self.lock:
                self.gripper_command = np.clip(positions, *self.gripper_range_m).tolist()
            state.state = "reached"
        else:
            raise ValueError(f"unknown task type {task.type!r}")

    # -- fast loop --------------------------------------------------------------------------
    def control_loop(self) -> None:
        pacer = TickPacer(self.period_s)
        ticks = 0
        while self.running and rclpy.ok():
            now_ns = self.get_clock().now().nanoseconds
            sleep_s = pacer.step(now_ns)
            if sleep_s > 0.0:
                # one sleep per tick: ROS time runs at about wall speed (or the sim is paused)
                time.sleep(sleep_s)
                continue
            with self.lock:
                q_measured, gripper = self.q_measured, self.gripper_command
            q_cmd = self.safe_command(q_measured, now_ns)
            if q_cmd is None:
                continue
            self.arm_pub.publish(Float64MultiArray(data=q_cmd.tolist()))
            ticks += 1
            self.rate.tick(time.monotonic())
            if gripper is not None and ticks % GRIPPER_PERIOD_TICKS == 0:
                self.gripper_pub.publish(Float64MultiArray(data=gripper))
            if ticks % STATE_PERIOD_TICKS == 0:
                self.hold_for_silent_commanders()
                self.publish_state(q_cmd, now_ns)

    def safe_command(self, q_measured: np.ndarray | None, now_ns: int) -> np.ndarray | None:
        """This tick's arm command: the controller's, filtered; or the held one (e-stop, stale
        joint states, or an error in the controller); None before any joint state."""
        hold = self.safety.hold_reason(time.monotonic())
        if hold is None and q_measured is not None:
            try:
                q_candidate, _ = self.wbc.update(q_measured)
                command = self.safety.filter(q_candidate, q_measured)
            except Exception as exc:  # noqa: BLE001 - the loop must survive and hold
                hold = f"holding: controller error: {exc}"
            else:
                if command.reasons:
                    self.get_logger().warning(
                        f"command changed: {'; '.join(command.reasons)}",
                        throttle_duration_sec=2.0,
                    )
                self.set_mode(None)
                return command.q
        self.set_mode(hold)
        if hold == ESTOPPED and self.estop_latched_ns is not None:
            delay_ms = (now_ns - self.estop_latched_ns) * 1e-6
            self.estop_latched_ns = None
            self.get_logger().info(f"e-stop: first held command {delay_ms:.1f} ms after the latch")
        return self.safety.held_command(q_measured)

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

    def hold_for_silent_commanders(self) -> None:
        """Hold the arm if a moving task's commander stopped repeating its target."""
        if self.commanders is None:
            return
        moving = {name for name, status in self.wbc.status().items() if status.state == "moving"}
        with self.lock:
            silent = self.commanders.silent(time.monotonic())
            for name in silent - moving:
                self.commanders.forget(name)  # arrived (or held): nothing left to watch
        if not silent & moving:
            return
        reason = f"commander silent for over {self.commanders.silence_s:.1f} s: holding"
        self.wbc.hold()
        with self.lock:
            for name in silent & moving:
                self.commanders.forget(name)
                state = self.task_states.get(name)
                if state is not None:
                    state.state, state.message = "unreachable", reason
                self.stopped_tasks.add(name)
        self.get_logger().error(f"{reason} ({', '.join(sorted(n[:40] for n in silent & moving))})")

    def publish_state(self, q_cmd: np.ndarray, now_ns: int) -> None:
        status = self.wbc.status()
        mode = self.hold_mode.current or ("tracking" if status else "holding")
        msg = WholeBodyState(mode=mode, loop_rate_hz=self.rate.rate_hz)
        msg.header.stamp = Time(sec=now_ns // 10**9, nanosec=now_ns % 10**9)
        msg.header.frame_id = self.base_frame
        with self.lock:
            for name, state in self.task_states.items():
                live = status.get(name)
                frozen = state.state == "rejected" or name in self.stopped_tasks
                if live is not None and not frozen:
                    state.state, state.message = live.state, live.reason
                    state.position_error_m = float(live.position_error_m)
                    state.orientation_error_rad = float(live.orientation_error_rad)
                msg.tasks.append(state)
        msg.command.name = self.arm_joints
        msg.command.position = q_cmd.tolist()
        self.state_pub.publish(msg)

    def close(self) -> None:
        self.running = False
        self.thread.join(timeout=2.0)


def make_controller() -> Node:
    """The controller the robot profile needs: the arm's, or a legged one for a floating base."""
    probe = Node("wbc_controller")  # reads the same parameters as the node it stands for
    probe.declare_parameter("robot_profile", "config/robots/arm.yaml")
    path = probe.get_parameter("robot_profile").value
    probe.destroy_node()
    if load_profile(resolve_path(path)).get("floating_base"):
        from vla_controller.legged_node import LeggedControllerNode  # the gaits load only here

        return LeggedControllerNode()
    return WbcControllerNode()


def main(args: list[str] | None = None) -> None:
    run_node(make_controller, args, threads=1)


if __name__ == "__main__":
    main()
