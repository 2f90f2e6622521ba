"""Skill server: offers each configured skill as an action with a batch affordance service and
announces it on /skills/registry. Motion goes to the whole-body controller as task targets."""

import math
import threading
import time

import numpy as np
import rclpy
from geometry_msgs.msg import Twist
from nav_msgs.msg import Odometry
from rclpy.action import ActionServer, CancelResponse, GoalResponse
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.clock import Clock, ClockType
from rclpy.duration import Duration
from rclpy.event_handler import PublisherEventCallbacks
from rclpy.node import Node
from sensor_msgs.msg import JointState
from std_msgs.msg import String
from visualization_msgs.msg import MarkerArray

from vla_bringup.conversions import pose_msg_from_se3
from vla_bringup.markers import wbc_target_markers
from vla_bringup.node_runner import run_node
from vla_bringup.profile import ODOM_FRAME, load_profile, resolve_path
from vla_bringup.provider_watch import HEARTBEAT_PERIOD_S, HEARTBEAT_TOPIC
from vla_bringup.qos import HEARTBEAT_QOS, REGISTRY_QOS
from vla_skills.base import (
    NO_OBJECTS_YET,
    PERCEPTION_SILENT,
    ClockWatch,
    Pose2D,
    Skill,
    SkillError,
    Stage,
    WorldSnapshot,
)
from vla_skills.catalog import make_skills
from vla_skills.legged import PoseApproach, WalkLimits, turn_command, walk_command
from vla_skills.world_model import objects_from_msg, yaw_of
from vla_stack.action import ExecuteSkill
from vla_stack.msg import (
    SceneObjects,
    SkillDescription,
    WholeBodyState,
    WholeBodyTarget,
    WholeBodyTask,
)
from vla_stack.srv import QueryAffordance

HOLDING_MIN_OPENING_M = 0.004   # fingers stopped this far apart: something is between them
DRIVE_RATE_HZ = 20.0            # /cmd_vel from the walk / turn loop
# wall s between repeats of a target: until the controller lists it (a lost one is delivered),
# and for the arm while it moves (keep-alives for the controller's commander_timeout_s, 2 s)
TARGET_RESEND_S = 0.5
STALL_S = 6.0                   # walking without getting closer for this long: failed
STANCE_S = 30.0                 # onto a stance: move-settle-look takes a few rounds (~4 s each)
UPRIGHT_MAX_TILT = math.radians(45.0)


class SkillInterrupted(Exception):  # noqa: N818 - not an error: a cancel
    """The goal was cancelled or the node is shutting down."""


class SkillServerNode(Node):
    def __init__(self) -> None:
        super().__init__("arm_skills")
        # Offers go out when a registry reader matches (and at the end of start-up to readers
        # matched by then): a sample written before a reader matched reached it only ~3 s later
        # (Fast DDS, measured), one written after it at once. Created first, so the matching
        # runs while the skills load.
        self.registry_pub = self.create_publisher(
            SkillDescription, "/skills/registry", REGISTRY_QOS,
            event_callbacks=PublisherEventCallbacks(matched=self.on_registry_reader))
        # "still alive" for the planner's crash watch; wall clock: a paused sim is no crash
        self.heartbeat_pub = self.create_publisher(String, HEARTBEAT_TOPIC, HEARTBEAT_QOS)
        self.create_timer(HEARTBEAT_PERIOD_S, self.send_heartbeat,
                          clock=Clock(clock_type=ClockType.STEADY_TIME))
        self.declare_parameter("robot_profile", "config/robots/arm.yaml")
        self.declare_parameter("skills", ["pick", "place"])
        self.declare_parameter("move_timeout_s", 20.0)
        self.declare_parameter("gripper_timeout_s", 3.0)
        self.declare_parameter("perception_timeout_s", 8.0)  # wall s of silence: affordances 0
        # wall s without sim time passing: a wait in sim time fails instead of hanging
        self.declare_parameter("clock_stall_timeout_s", 3.0)
        # where the actions/services live: a second provider of a skill name (swapped in while
        # the first still runs) needs its own, e.g. /skills/learned -> /skills/learned/pick/...
        self.declare_parameter("interface_namespace", "/skills")
        profile = load_profile(resolve_path(self.get_parameter("robot_profile").value))
        self.arm_joints = list(profile.get("arm_joints", []))
        self.gripper_joints = list(profile.get("gripper_joints", []))
        self.base_frame = profile["base_frame"]
        self.tool_frame = profile.get("tool_frame", "")
        self.floating_base = bool(profile.get("floating_base"))
        # objects (and landmarks) come in the frame the robot moves in: odom for a floating base
        self.objects_frame = ODOM_FRAME if self.floating_base else self.base_frame
        self.walk_limits = WalkLimits(**profile.get("skill_settings", {}).get("walk", {}))
        self.skills: dict[str, Skill] = {
            s.info.name: s for s in make_skills(list(self.get_parameter("skills").value), profile)}
        self.state_lock = threading.Condition()
        self.objects: dict | None = None   # None until perception has spoken
        self.objects_at = -math.inf         # when it last did (monotonic wall time)
        self.joint_positions: dict[str, float] = {}
        self.joint_velocities: dict[str, float] = {}
        self.wbc_tasks: dict[str, object] = {}
        self.wbc_mode = ""                        # the controller's (walking, stand, ...)
        self.held_object: str | None = None
        self.base_pose: Pose2D | None = None      # floating base, from /odom
        self.base_speed_mps = 0.0
        self.base_upright = True
        self.posture = "stand"                    # the posture last reached
        self.busy = threading.Lock()
        self.shutting_down = False

        group = ReentrantCallbackGroup()
        self.create_subscription(SceneObjects, "/perception/objects", self.on_objects, 10,
                                 callback_group=group)
        self.create_subscription(JointState, "/joint_states", self.on_joint_states, 10,
                                 callback_group=group)
        self.create_subscription(WholeBodyState, "/wbc/state", self.on_wbc_state, 10,
                                 callback_group=group)
        self.target_pub = self.create_publisher(WholeBodyTarget, "/wbc/target", 10)
        if self.floating_base:
            self.create_subscription(Odometry, "/odom", self.on_odom, 10, callback_group=group)
            self.cmd_vel_pub = self.create_publisher(Twist, "/cmd_vel", 10)
        self.target_markers_pub = self.create_publisher(MarkerArray, "/wbc/target_markers", 10)
        self.interface_ns = "/" + str(self.get_parameter("interface_namespace").value).strip("/")
        if self.interface_ns == "/":
            raise ValueError("interface_namespace must not be empty (default: /skills)")
        self.servers = []
        for name, skill in self.skills.items():
            self.servers.append(ActionServer(
                self, ExecuteSkill, f"{self.interface_ns}/{name}/execute",
                execute_callback=lambda gh, s=skill: self.execute(s, gh),
                goal_callback=lambda goal, s=skill: self.on_goal(s, goal),
                cancel_callback=lambda _gh: CancelResponse.ACCEPT,
                callback_group=group))
            self.create_service(QueryAffordance, f"{self.interface_ns}/{name}/affordance",
                                lambda req, res, s=skill: self.on_affordance(s, req, res),
                                callback_group=group)
        # wall time, not sim time: the newest provider wins, and a node started before /clock
        # arrives would otherwise stamp 0; one stamp for every re-announcement
        self.offer_stamp = Clock(clock_type=ClockType.SYSTEM_TIME).now().to_msg()
        self.get_logger().info(f"offering skills: {', '.join(self.skills)}")
        if self.registry_pub.get_subscription_count() > 0:
            self.announce(available=True)

    # -- registry ------------------------------------------------------------------------
    def on_registry_reader(self, info) -> None:
        # events run once the node spins: run_node adds it to the executor after __init__
        if info.current_count_change > 0 and not self.shutting_down:
            self.announce(available=True)

    def announce(self, available: bool) -> None:
        """One registry entry per skill, all with the start-up stamp."""
        for name, skill in self.skills.items():
            info = skill.info
            self.registry_pub.publish(SkillDescription(
                name=name, description=info.description, text_template=info.text_template,
                arg_names=list(info.arg_names), arg_kinds=list(info.arg_kinds),
                provider=self.get_fully_qualified_name(),
                action_name=f"{self.interface_ns}/{name}/execute",
                affordance_service=f"{self.interface_ns}/{name}/affordance",
                stamp=self.offer_stamp, available=available))

    def send_heartbeat(self) -> None:
        self.heartbeat_pub.publish(String(data=self.get_fully_qualified_name()))

    def publish_target(self, target: WholeBodyTarget) -> None:
        self.target_pub.publish(target)
        self.target_markers_pub.publish(wbc_target_markers(target))  # RViz: where it is going

    # -- inputs --------------------------------------------------------------------------
    def on_objects(self, msg: SceneObjects) -> None:
        if msg.header.frame_id not in ("", self.objects_frame):
            self.get_logger().warning(f"objects in frame {msg.header.frame_id!r} ignored: expected "
                                   f"{self.objects_frame!r}", throttle_duration_sec=5.0)
            return
        with self.state_lock:
            self.objects = objects_from_msg(msg)
            self.objects_at = time.monotonic()

    def on_joint_states(self, msg: JointState) -> None:
        if len(msg.position) != len(msg.name):
            return
        with self.state_lock:
            self.joint_positions.update(zip(msg.name, msg.position, strict=True))
            if len(msg.velocity) == len(msg.name):
                self.joint_velocities.update(zip(msg.name, msg.velocity, strict=True))
            self.state_lock.notify_all()

    def on_odom(self, msg: Odometry) -> None:
        p, q, v = msg.pose.pose.position, msg.pose.pose.orientation, msg.twist.twist.linear
        values = [p.x, p.y, p.z, q.x, q.y, q.z, q.w, v.x, v.y]
        if not all(math.isfinite(x) for x in values):
            return
        with self.state_lock:
            self.base_pose = Pose2D(p.x, p.y, yaw_of(q))
            self.base_speed_mps = math.hypot(v.x, v.y)
            # the base z axis in odom: its z component is cos(tilt)
            self.base_upright = 1.0 - 2.0 * (q.x * q.x + q.y * q.y) > math.cos(UPRIGHT_MAX_TILT)
            self.state_lock.notify_all()

    def on_wbc_state(self, msg: WholeBodyState) -> None:
        with self.state_lock:
            self.wbc_tasks = {t.name: t for t in msg.tasks}
            self.wbc_mode = msg.mode
            self.state_lock.notify_all()

    def snapshot(self) -> WorldSnapshot:
        with self.state_lock:
            q = [self.joint_positions.get(j) for j in self.arm_joints]
            fingers = [self.joint_positions.get(j, 0.0) for j in self.gripper_joints]
            return WorldSnapshot(
                objects=dict(self.objects or {}), held_object=self.held_object,
                gripper_opening_m=float(np.mean(fingers)) if fingers else 0.0,
                q_arm=None if None in q or not q else np.array(q, dtype=float),
                base_pose=self.base_pose, posture=self.posture, upright=self.base_upright)

    # -- affordances ---------------------------------------------------------------------
    def perception_silent_s(self) -> float:
        """Wall seconds since perception last spoke (inf before it ever did)."""
        return time.monotonic() - self.objects_at

    def on_affordance(self, skill: Skill, request, response):
        world = self.snapshot()
        silent_s = self.perception_silent_s()
        timeout_s = float(self.get_parameter("perception_timeout_s").value)
        for call in request.calls:
            if self.objects is None:
                score, why = 0.0, NO_OBJECTS_YET
            elif silent_s > timeout_s:
                # a silent perception may hide a moved object or a person: do not act on old news
                score, why = 0.0, f"{PERCEPTION_SILENT} {silent_s:.1f} s"
            elif call.skill != skill.info.name or len(call.arg_names) != len(call.arg_values):
                score, why = 0.0, f"malformed call for {skill.info.name}: {call.skill!r}"
            else:
                score, why = skill.affordance(dict(zip(call.arg_names, call.arg_values,
                                                       strict=True)), world)
            response.affordances.append(float(score))
            response.reasons.append(why)
        return response

    # -- execution -----------------------------------------------------------------------
    def on_goal(self, skill: Skill, goal) -> GoalResponse:
        call = goal.call
        if call.skill not in ("", skill.info.name) or len(call.arg_names) != len(call.arg_values):
            self.get_logger().warning(f"{skill.info.name}: rejected malformed goal {call}")
            return GoalResponse.REJECT
        try:
            skill.check_args(dict(zip(call.arg_names, call.arg_values, strict=True)),
                             self.snapshot())
        except SkillError as exc:
            self.get_logger().warning(f"{skill.info.name}: rejected goal: {exc}")
            return GoalResponse.REJECT
        if self.busy.locked():
            self.get_logger().warning(f"{skill.info.name}: rejected goal: another skill is running")
            return GoalResponse.REJECT
        return GoalResponse.ACCEPT

    def execute(self, skill: Skill, goal_handle) -> ExecuteSkill.Result:
        call = goal_handle.request.call
        args = dict(zip(call.arg_names, call.arg_values, strict=True))
        if not self.busy.acquire(blocking=False):
            goal_handle.abort()
            return ExecuteSkill.Result(success=False, message="another skill is running")
        try:
            stages = skill.stages(args, self.snapshot())
            for index, stage in enumerate(stages):
                goal_handle.publish_feedback(ExecuteSkill.Feedback(
                    progress=index / len(stages), stage=stage.name))
                self.run_stage(stage, args, goal_handle)
            goal_handle.publish_feedback(ExecuteSkill.Feedback(progress=1.0, stage="done"))
            goal_handle.succeed()
            return ExecuteSkill.Result(success=True, message=f"{skill.info.name} done")
        except SkillInterrupted as exc:
            self.hold()
            if goal_handle.is_cancel_requested:
                goal_handle.canceled()
            else:
                goal_handle.abort()
            return ExecuteSkill.Result(success=False, message=str(exc))
        except SkillError as exc:
            self.hold()
            goal_handle.abort()
            self.get_logger().warning(f"{skill.info.name} {args} failed: {exc}")
            return ExecuteSkill.Result(success=False, message=str(exc))
        finally:
            self.busy.release()

    def run_stage(self, stage: Stage, args: dict[str, str], goal_handle) -> None:
        if (stage.walk_target_xy_m is not None or stage.face_xy_m is not None
                or stage.stand_at is not None):
            self.drive(stage, goal_handle)
            return
        stamp = self.get_clock().now().to_msg()
        target = WholeBodyTarget()
        target.header.frame_id, target.header.stamp = self.base_frame, stamp
        if stage.posture is not None:
            target.tasks.append(WholeBodyTask(operation=WholeBodyTask.ADD_OR_UPDATE,
                                              name="posture", type="posture",
                                              posture=stage.posture))
            self.target_pub.publish(target)
            self.wait_for_task("posture", target, self.target_pub.publish, goal_handle,
                               f"posture {stage.posture!r}")
            with self.state_lock:
                self.posture = stage.posture
        elif stage.tool_pose_base is not None:
            if self.floating_base:  # legged skills aim at objects where they are: in odom
                target.header.frame_id = self.objects_frame
            task = WholeBodyTask(operation=WholeBodyTask.ADD_OR_UPDATE, name="tool",
                                 type="frame_pose", frame=stage.frame or self.tool_frame,
                                 position_weight=1.0,
                                 orientation_weight=stage.orientation_weight,
                                 max_linear_speed_mps=stage.max_linear_speed_mps)
            task.target_pose = pose_msg_from_se3(stage.tool_pose_base)
            target.tasks.append(task)
            self.publish_target(target)
            self.wait_for_task("tool", target, self.publish_target, goal_handle,
                               "the tool to reach its target")
            if stage.expect_holding and self.finger_opening_m() < HOLDING_MIN_OPENING_M:
                dropped, self.held_object = self.held_object, None
                raise SkillError(f"dropped {dropped or 'the object'} during {stage.name}: "
                                 f"fingers closed to {self.finger_opening_m() * 1e3:.1f} mm")
        else:
            task = WholeBodyTask(operation=WholeBodyTask.ADD_OR_UPDATE, name="gripper",
                                 type="joint_position", joint_names=self.gripper_joints)
            task.joint_target.positions = [float(stage.gripper_opening_m)] * len(
                self.gripper_joints)
            target.tasks.append(task)
            self.publish_target(target)
            # delivered first (resent if lost), else a lost "open" passes on an already-open hand
            self.wait_for_task("gripper", target, self.publish_target, goal_handle,
                               "the controller to take the gripper command")
            opening = self.wait_for_gripper(stage.gripper_opening_m, goal_handle)
            if stage.expect_holding is True:
                if opening < HOLDING_MIN_OPENING_M:
                    raise SkillError(f"grasp missed: fingers closed to {opening * 1e3:.1f} mm")
                self.held_object = args.get("object")
            elif stage.expect_holding is False:
                self.held_object = None

    def wait(self, predicate, timeout_s: float, goal_handle, what: str):
        """Wait (sim time) for predicate() to return a value; SkillInterrupted on cancel,
        SkillError on the timeout or when the clock stops."""
        deadline = self.get_clock().now() + Duration(seconds=timeout_s)
        clock_watch = ClockWatch(float(self.get_parameter("clock_stall_timeout_s").value))
        with self.state_lock:
            while True:
                if goal_handle.is_cancel_requested or self.shutting_down or not rclpy.ok():
                    raise SkillInterrupted("cancelled")
                value = predicate()
                if value is not None:
                    return value
                now = self.get_clock().now()
                if now > deadline:
                    raise SkillError(f"timed out after {timeout_s:.0f} s waiting for {what}")
                clock_watch.check(now.nanoseconds, time.monotonic())
                self.state_lock.wait(timeout=0.05)

    def sleep(self, duration_s: float, goal_handle) -> None:
        """Sleep in sim time; unlike Clock.sleep_for it ends when the clock stops."""
        wake_at = self.get_clock().now() + Duration(seconds=duration_s)
        self.wait(lambda: True if self.get_clock().now() >= wake_at else None,
                  duration_s + 1.0, goal_handle, "the clock")

    def drive(self, stage: Stage, goal_handle) -> None:
        """Walk to / turn to face a point, closing the loop on /odom at DRIVE_RATE_HZ (sim time):
        a go-to law (vla_skills.legged) sends /cmd_vel until the base arrives and stops."""
        limits = self.walk_limits
        target = np.asarray(stage.walk_target_xy_m or stage.face_xy_m or stage.stand_at[:2],
                            dtype=float)
        with self.state_lock:
            start = self.base_pose
        if start is None:
            raise SkillError("no odometry: cannot walk")
        distance_m = float(np.linalg.norm(target - start.xy_m))
        approach = None if stage.stand_at is None else PoseApproach(Pose2D(*stage.stand_at),
                                                                    limits)
        timeout_s = 15.0 + 3.0 * distance_m / limits.max_speed_mps + (
            0.0 if approach is None else STANCE_S)
        deadline = self.get_clock().now() + Duration(seconds=timeout_s)
        best_m, best_at = math.inf, self.get_clock().now()

        def step():
            nonlocal best_m, best_at
            if not self.base_upright:
                raise SkillError("the robot fell: not upright")
            now = self.get_clock().now()
            if now > deadline:
                raise SkillError(f"not there after {timeout_s:.0f} s")
            if approach is not None:
                twist, left, arrived = approach.update(
                    self.base_pose, now.nanoseconds * 1e-9,
                    at_rest=self.base_speed_mps < 0.05 and self.wbc_mode != "walking")
            elif stage.walk_target_xy_m is not None:
                twist, left = walk_command(self.base_pose, target, stage.stop_distance_m, limits)
                arrived = left < limits.arrive_tolerance_m
            else:
                twist, left = turn_command(self.base_pose, target, limits)
                arrived = abs(left) < limits.face_tolerance_rad
            if abs(left) < best_m - 0.02 or approach is not None:  # the stance: the timeout
                best_m, best_at = abs(left), now
            elif (now - best_at).nanoseconds > STALL_S * 1e9:
                raise SkillError(f"no progress for {STALL_S:.0f} s ({left:+.2f} still to go)")
            return None if arrived else twist

        period_s = 1.0 / DRIVE_RATE_HZ
        try:
            while True:
                with self.state_lock:
                    if goal_handle.is_cancel_requested or self.shutting_down or not rclpy.ok():
                        raise SkillInterrupted("cancelled")
                    twist = step()
                if twist is None:
                    break
                self.send_twist(twist)
                self.sleep(period_s, goal_handle)
        finally:
            self.send_twist(np.zeros(3))
        # arrived: wait for the body to come to rest before saying so
        self.wait(lambda: True if self.base_speed_mps < 0.05 else None, 5.0, goal_handle,
                  "the robot to stop")

    def send_twist(self, twist: np.ndarray) -> None:
        msg = Twist()
        msg.linear.x, msg.linear.y, msg.angular.z = (float(v) for v in twist)
        self.cmd_vel_pub.publish(msg)

    def wait_for_task(self, name: str, target: WholeBodyTarget, send, goal_handle,
                      what: str) -> None:
        """Wait until the controller reports task `name` of `target` reached, sending it
        again every TARGET_RESEND_S: until the controller lists it (a target published before
        the controller's subscription had matched ours is never delivered: seen in a test that
        sent a pick right after start-up, the arm never moved), and on the arm for as long as
        it moves (the controller holds the arm when a moving task's commander goes silent; the
        legged controller stands still on a silent /cmd_vel instead)."""
        stamp = target.header.stamp
        sent_at_s = time.monotonic()

        def status():
            nonlocal sent_at_s
            task = self.wbc_tasks.get(name)
            listed = task is not None and (task.target_stamp.sec, task.target_stamp.nanosec) == (
                stamp.sec, stamp.nanosec)
            if (not listed or not self.floating_base) and \
                    time.monotonic() - sent_at_s > TARGET_RESEND_S:
                send(target)
                sent_at_s = time.monotonic()
            if not listed:
                return None
            if task.state in ("unreachable", "rejected"):
                raise SkillError(f"controller: {name} target {task.state}: {task.message}")
            return True if task.state == "reached" else None

        self.wait(status, self.get_parameter("move_timeout_s").value, goal_handle, what)

    def finger_opening_m(self) -> float:
        """Measured opening per finger (mean of the gripper joints)."""
        return float(np.mean([self.joint_positions.get(j, 0.0) for j in self.gripper_joints]))

    def wait_for_gripper(self, target_m: float, goal_handle) -> float:
        settle_since = [None]

        def settled():
            opening = self.finger_opening_m()
            speed = max(abs(self.joint_velocities.get(j, 0.0)) for j in self.gripper_joints)
            now = self.get_clock().now()
            if abs(opening - target_m) < 0.002 or speed < 0.002:
                settle_since[0] = settle_since[0] or now
                if (now - settle_since[0]).nanoseconds > 0.3e9:
                    return opening
            else:
                settle_since[0] = None
            return None

        return self.wait(settled, self.get_parameter("gripper_timeout_s").value, goal_handle,
                         "the gripper to settle")

    def hold(self) -> None:
        """Stop where it is: removing the tool task makes the controller hold; a legged robot
        also gets a zero velocity."""
        if self.floating_base:
            self.send_twist(np.zeros(3))
        target = WholeBodyTarget()
        target.header.frame_id = self.base_frame
        target.header.stamp = self.get_clock().now().to_msg()
        target.tasks.append(WholeBodyTask(operation=WholeBodyTask.REMOVE, name="tool"))
        self.publish_target(target)

    def close(self) -> None:
        self.shutting_down = True
        with self.state_lock:
            self.state_lock.notify_all()
        if rclpy.ok():
            self.announce(available=False)


def main(args: list[str] | None = None) -> None:
    run_node(SkillServerNode, args)


if __name__ == "__main__":
    main()
