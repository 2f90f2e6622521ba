"""The humanoid reaches for the green cube on the yellow pedestal through the real stack: MuJoCo,
the legged controller, perception and the skill server as processes over DDS (sim time).

The sim starts the robot where walk_to stops before the pedestal (`start_pose`), facing the cube
with neither shoulder in line with it: the skill first steps onto its stance. Judged on ground
truth: the hand within 3 cm of the cube (`touching` on /sim/check_goal), the cube still on the
pedestal, the robot upright, and both soles within 5 mm of where they stood when the hand stages
began (forward kinematics of /joint_states on the sim's ground-truth /odom).
`touching` measures between surfaces (the hand's shape and the cube's). Bad hand targets
are refused with a reason; a walk command afterwards brings the arm back before stepping.
Then the posture task: sit (the squat, pelvis lower by the profile's drop, soles planted, walk
commands ignored) and stand again, through the sit and stand skills."""

import math
import os
import threading
import time

import numpy as np
import pinocchio as pin
import pytest
import rclpy
from geometry_msgs.msg import Twist
from nav_msgs.msg import Odometry
from rclpy.action import ActionClient
from sensor_msgs.msg import JointState

from ros_stack import wait_until
from vla_bringup.commander import StackCommander, wait_for
from vla_bringup.conversions import pose_msg_from_se3
from vla_bringup.launcher import StackProcesses
from vla_bringup.profile import load_profile
from vla_bringup.specs import stack_specs
from vla_controller.robot_model import RobotModel
from vla_skills.base import NO_OBJECTS_YET
from vla_stack.action import ExecuteSkill
from vla_stack.msg import SkillCall, WholeBodyState, WholeBodyTarget, WholeBodyTask
from vla_stack.srv import QueryAffordance

PROFILE = load_profile("humanoid")
# where walk_to from the origin stops before the pedestal (0.45 m from the cube, facing it)
WALKED_TO_POSE = (3.06, -0.70, -0.225)
NODES = {"mujoco_sim", "wbc_controller", "perception", "legged_skills"}
SOLE_DRIFT_M = 0.005
TOUCH_M = 0.03


class Observer:
    """/joint_states, /odom and /wbc/state as the test sees them."""

    def __init__(self, node: StackCommander) -> None:
        self.lock = threading.Lock()
        self.joints: dict[str, float] = {}
        self.odom: Odometry | None = None
        self.state: WholeBodyState | None = None
        self.modes: list[str] = []
        self.history: list[tuple] = []  # (stamp s, mode, tool state, message) on each change
        node.create_subscription(JointState, "/joint_states", self.on_joints, 10)
        node.create_subscription(Odometry, "/odom", self.on_odom, 10)
        node.create_subscription(WholeBodyState, "/wbc/state", self.on_state, 10)
        self.robot = RobotModel.from_profile(PROFILE)

    def on_joints(self, msg: JointState) -> None:
        with self.lock:
            self.joints.update(zip(msg.name, msg.position, strict=True))

    def on_odom(self, msg: Odometry) -> None:
        with self.lock:
            self.odom = msg

    def on_state(self, msg: WholeBodyState) -> None:
        with self.lock:
            self.state = msg
            if not self.modes or self.modes[-1] != msg.mode:
                self.modes.append(msg.mode)
            tool = next((t for t in msg.tasks if t.name == "tool"), None)
            entry = (msg.mode, None if tool is None else (
                tool.state, tool.message, round(tool.position_error_m, 2)))
            if not self.history or self.history[-1][1:3] != entry:
                stamp_s = msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9
                self.history.append((round(stamp_s, 2), *entry, round(msg.loop_rate_hz)))

    def task(self, name: str):
        with self.lock:
            tasks = [] if self.state is None else self.state.tasks
            return next((t for t in tasks if t.name == name), None)

    def soles_m(self) -> np.ndarray:
        """Both soles in the world, from the sim's ground-truth odometry and the joints."""
        with self.lock:
            p, o = self.odom.pose.pose.position, self.odom.pose.pose.orientation
            joints = dict(self.joints)
        q = self.robot.floating_configuration([p.x, p.y, p.z], [o.w, o.x, o.y, o.z],
                                              self.robot.vector_from_names(joints))
        return np.array([self.robot.frame_pose_world(q, f).translation
                         for f in PROFILE["contact_frames"]])




def hand_target(name: str, xyz, frame: str = "right_hand") -> WholeBodyTarget:
    task = WholeBodyTask(name=name, type="frame_pose", frame=frame, position_weight=1.0)
    task.target_pose = pose_msg_from_se3(pin.SE3(np.eye(3), np.asarray(xyz, dtype=float)))
    msg = WholeBodyTarget(tasks=[task])
    msg.header.frame_id = "odom"
    return msg


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    overrides = {"mujoco_sim": {"start_pose": list(WALKED_TO_POSE)},
                 "legged_skills": {"skills": ["walk_to", "reach", "sit", "stand"]}}
    specs = [s for s in stack_specs("humanoid", overrides) if s.name in NODES]
    log_dir = tmp_path_factory.mktemp("humanoid_reach")
    with StackProcesses(specs, log_dir, dict(os.environ)) as processes:
        rclpy.init()
        commander = StackCommander(node_name=f"reach_test_{os.getpid()}")
        observer = Observer(commander)
        try:
            ready = wait_until(lambda: observer.odom is not None and observer.state is not None
                               and commander.objects is not None and "reach" in commander.skills,
                               240.0)
            logs = "\n".join(f"--- {s.name}\n{processes.log_tail(s.name)}" for s in specs)
            assert ready and not processes.dead(), logs
            yield processes, commander, observer
        finally:
            commander.close()
            rclpy.shutdown()


def green_object(commander: StackCommander) -> str:
    names = [o.name for o in commander.objects.objects]
    found = [n for n in names if n.startswith("green")]
    assert found, names
    return found[0]


def reach_affordance(commander: StackCommander, obj: str) -> tuple[float, str]:
    client = commander.create_client(QueryAffordance, "/skills/reach/affordance")
    assert client.wait_for_service(timeout_sec=30.0)
    request = QueryAffordance.Request(calls=[SkillCall(skill="reach", arg_names=["object"],
                                                       arg_values=[obj])])
    deadline = time.monotonic() + 120.0
    while time.monotonic() < deadline:
        future = client.call_async(request)
        if wait_for(future, 10.0) and future.result().reasons[0] != NO_OBJECTS_YET:
            return future.result().affordances[0], future.result().reasons[0]
        time.sleep(0.5)
    raise AssertionError("the skill server never heard perception")


def test_humanoid_reaches_the_green_cube_with_the_feet_planted(stack):
    processes, commander, observer = stack
    target_pub = commander.create_publisher(WholeBodyTarget, "/wbc/target", 10)
    cmd_pub = commander.create_publisher(Twist, "/cmd_vel", 10)
    assert wait_until(lambda: target_pub.get_subscription_count() > 0
                      and cmd_pub.get_subscription_count() > 0, 20.0)
    assert commander.check_goal("upright(robot)").holds

    # bad hand targets: refused with a reason, nothing starts
    bad = hand_target("bad_nan", [math.nan, 0.0, 1.0])
    target_pub.publish(bad)
    target_pub.publish(hand_target("bad_sole", [3.3, -0.6, 0.2], frame="left_sole"))
    assert wait_until(lambda: observer.task("bad_nan") is not None
                      and observer.task("bad_sole") is not None, 30.0)
    assert observer.task("bad_nan").state == "rejected"
    assert "NaN" in observer.task("bad_nan").message
    assert observer.task("bad_sole").state == "rejected"
    assert "end effector" in observer.task("bad_sole").message

    cube = green_object(commander)
    seen = next(o for o in commander.objects.objects if o.name == cube)
    print(f"perceived {cube}: at {seen.pose.position}, size {seen.size}")
    score, why = reach_affordance(commander, cube)
    assert score > 0.5, why
    print(f"reach affordance {score}: {why}")
    start_xy = np.array([observer.odom.pose.pose.position.x, observer.odom.pose.pose.position.y])
    soles = {}

    def on_feedback(msg) -> None:  # the soles when the hand stages begin: after the stance
        if msg.feedback.stage == "approach" and "before" not in soles:
            soles["before"] = observer.soles_m()

    client = ActionClient(commander, ExecuteSkill, "/skills/reach/execute")
    assert client.wait_for_server(timeout_sec=30.0)
    sent = client.send_goal_async(ExecuteSkill.Goal(call=SkillCall(
        skill="reach", arg_names=["object"], arg_values=[cube])), feedback_callback=on_feedback)
    assert wait_for(sent, 30.0) and sent.result().accepted
    result = sent.result().get_result_async()
    assert wait_for(result, 900.0), processes.log_tail("wbc_controller")
    if not result.result().result.success:
        print("controller state changes:", *observer.history, sep="\n  ")
        print("loop rates (Hz):", np.round(commander.loop_rates_hz[-50:]))
    assert result.result().result.success, result.result().result.message
    time.sleep(1.0)  # let the last /odom and joints arrive
    goal = commander.check_goal(f"touching(right_hand, green_cube, {TOUCH_M}) and "
                                "on(green_cube, yellow_pedestal) and upright(robot)")
    assert goal.valid and goal.holds, goal.detail
    stance_xy = np.array([observer.odom.pose.pose.position.x, observer.odom.pose.pose.position.y])
    drift_m = np.linalg.norm(observer.soles_m() - soles["before"], axis=1)
    print(f"reach: stepped {np.linalg.norm(stance_xy - start_xy):.3f} m onto the stance "
          f"{np.round(stance_xy, 3)}; {goal.detail}; sole drift {np.round(drift_m * 1e3, 2)} mm")
    assert np.all(drift_m < SOLE_DRIFT_M), drift_m
    assert "reaching" in observer.modes

    # a walk command while reaching: the arm comes back first, then the robot walks backward
    reach_x = observer.odom.pose.pose.position.x
    walk = Twist()
    walk.linear.x = -0.1

    def walked_back() -> bool:
        cmd_pub.publish(walk)
        return observer.odom.pose.pose.position.x < reach_x - 0.1

    assert wait_until(walked_back, 600.0), observer.modes
    cmd_pub.publish(Twist())
    modes = observer.modes
    reached_at = max(i for i, m in enumerate(modes) if m == "reaching")
    assert "walking" in modes[reached_at:], modes
    assert commander.check_goal("upright(robot)").holds
    assert not processes.dead()


# ----- without ROS: the skill's reachability and the ground-truth predicate ------------------
def _reach_skill():
    from vla_skills.catalog import make_skills

    return make_skills(["reach"], PROFILE)[0]


def test_touching_predicate_on_ground_truth():
    from vla_sim.goals import evaluate, parse_goal
    from vla_sim.scene import load_scene
    from vla_sim.world import SimWorld

    with pytest.raises(ValueError, match="positive"):
        parse_goal("touching(right_hand, green_cube, -0.1)")
    with SimWorld(PROFILE, load_scene(PROFILE["default_scene"])) as world:
        goal = parse_goal("touching(right_hand, green_cube, 0.03)")
        ok, detail = evaluate(goal, world)
        assert not ok and "right_hand" in detail  # metres away at the start
        hand = world.data.xpos[world.model.body("right_hand").id].copy()
        # the hanging hand's side: its shape (a 5 cm wide box round the frame) then 2 cm of air
        # (the hand frame carries no shape: its forearm link's is judged)
        world.set_object_pose("green_cube", hand + [0.0, -(0.025 + 0.02 + 0.04), 0.0])
        ok, detail = evaluate(goal, world)
        assert ok, detail
        assert not evaluate(parse_goal("touching(right_hand, green_cube, 0.01)"), world)[0]
        with pytest.raises(ValueError, match="no body"):
            evaluate(parse_goal("touching(tail, green_cube, 0.03)"), world)


def _sensors(world, names):
    from vla_controller.legged import LeggedSensors

    lin, _ = world.robot_base_velocity()
    quat, gyro, _ = world.imu()
    R = pin.Quaternion(*quat).toRotationMatrix()  # wxyz constructor
    return LeggedSensors(dict(zip(names, world.joint_positions(), strict=True)),
                         dict(zip(names, world.joint_velocities(), strict=True)),
                         world.robot_base_pose()[0], quat, R.T @ lin, gyro)


def _yaw(quat_wxyz) -> float:
    w, x, y, z = quat_wxyz
    return math.atan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z))


def test_reach_skill_in_mujoco_steps_onto_its_stance_touches_and_returns():
    """The whole reach skill over the biped gait at the control rate (sim time, no ROS), from
    where walk_to stops before the pedestal (facing the cube, no shoulder in line with it): the
    stance stage (PoseApproach driving the gait), the two hand stages through StandingReach,
    then the way back and a few steps backward."""
    from vla_controller.legged import BipedLocomotion, StandingReach
    from vla_sim.scene import load_scene
    from vla_sim.world import SimWorld
    from vla_skills.base import ObjectInfo, Pose2D, WorldSnapshot
    from vla_skills.legged import PoseApproach, WalkLimits

    with SimWorld(PROFILE, load_scene(PROFILE["default_scene"])) as world:
        z_m = world.robot_base_pose()[0][2]
        x_m, y_m, yaw = WALKED_TO_POSE
        world.set_robot_base_pose([x_m, y_m, z_m], [math.cos(yaw / 2), 0, 0, math.sin(yaw / 2)])
        gait, reach = BipedLocomotion(PROFILE), StandingReach(PROFILE)
        period_s = 1.0 / PROFILE["control_rate_hz"]
        physics_per_period = round(period_s / world.physics_dt_s)
        names = world.joint_names
        m, d = world.model, world.data
        soles = [m.body(f).id for f in PROFILE["contact_frames"]]
        phases = []

        def run(duration_s: float, twist=(0.0, 0.0, 0.0), until=None) -> None:
            for _ in range(round(duration_s / period_s)):
                sensors = _sensors(world, names)
                command = gait.update(sensors, np.asarray(twist, dtype=float), period_s)
                q = reach.blend(command.positions_rad, command.names, sensors, period_s)
                world.set_joint_targets(command.names, q, np.zeros(len(q)))
                world.step(physics_per_period)
                if not phases or phases[-1] != reach.phase:
                    phases.append(reach.phase)
                if until is not None and until():
                    return

        def base_pose() -> Pose2D:
            position, quat = world.robot_base_pose()
            return Pose2D(float(position[0]), float(position[1]), _yaw(quat))

        run(1.0)
        objects = {name: ObjectInfo(name, "graspable", world.object_pose(name)[0],
                                    np.asarray(world.scene_object(name).size_m, dtype=float))
                   for name in ("green_cube", "yellow_pedestal")}
        stance, *hand_stages = _reach_skill().stages(
            {"object": "green_cube"}, WorldSnapshot(objects=objects, base_pose=base_pose()))
        assert stance.stand_at is not None and [s.name for s in hand_stages] == [
            "approach", "touch"]
        # the stance: what the skill server's drive does, at its 20 Hz
        approach = PoseApproach(Pose2D(*stance.stand_at), WalkLimits(
            **PROFILE["skill_settings"]["walk"]))
        arrived, elapsed_s = False, 0.0
        while not arrived and elapsed_s < 40.0:
            at_rest = not gait.walking and np.linalg.norm(world.robot_base_velocity()[0][:2]) < 0.05
            twist, _, arrived = approach.update(base_pose(), world.time_s, at_rest)
            run(0.05, twist)
            elapsed_s += 0.05
        pose = base_pose()
        stance_error_m = float(np.hypot(pose.x_m - stance.stand_at[0],
                                        pose.y_m - stance.stand_at[1]))
        assert arrived, (pose, stance.stand_at)
        assert world.check_goal("upright(robot)")[0]
        soles_start = np.array([d.xpos[b] for b in soles])
        for stage in hand_stages:
            status = reach.start("tool", stage.frame, stage.tool_pose_base, _sensors(world, names),
                                 stage.max_linear_speed_mps, stage.orientation_weight)
            assert status.state == "moving", status
            run(10.0, until=lambda: reach.status("tool").state != "moving")
            assert reach.status("tool").state == "reached", reach.status("tool")
        hand = hand_stages[0].frame
        ok, detail = world.check_goal(f"touching({hand}, green_cube, {TOUCH_M}) and "
                                      "on(green_cube, yellow_pedestal) and upright(robot)")
        drift_m = np.linalg.norm(np.array([d.xpos[b] for b in soles]) - soles_start, axis=1)
        print(f"\nin-process reach skill: stance {np.round(stance.stand_at, 3)} reached in "
              f"{elapsed_s:.1f} s ({approach.moves} moves, {stance_error_m * 1e3:.0f} mm off); "
              f"{detail}; sole drift {np.round(drift_m * 1e3, 3)} mm, "
              f"re-syncs {reach.wbc.resync_count}")
        assert ok, detail
        assert np.all(drift_m < SOLE_DRIFT_M)
        assert phases[:3] == ["off", "in", "on"]

        reach.release()
        run(15.0, until=lambda: reach.phase == "off")
        assert phases[-4:] == ["retract", "home", "out", "off"], phases
        hand_m = d.xpos[m.body(hand).id]
        assert hand_m[2] < 0.65  # hanging again, not resting on the pedestal
        x0_m = world.robot_base_pose()[0][0]
        run(3.0, twist=(-0.1, 0.0, 0.0))
        assert world.robot_base_pose()[0][0] < x0_m - 0.1
        ok, detail = world.check_goal("upright(robot)")
        assert ok, detail


def run_skill(commander: StackCommander, name: str, args: dict[str, str] | None = None):
    client = ActionClient(commander, ExecuteSkill, f"/skills/{name}/execute")
    assert client.wait_for_server(timeout_sec=30.0)
    args = args or {}
    sent = client.send_goal_async(ExecuteSkill.Goal(call=SkillCall(
        skill=name, arg_names=list(args), arg_values=list(args.values()))))
    assert wait_for(sent, 30.0) and sent.result().accepted
    result = sent.result().get_result_async()
    assert wait_for(result, 300.0)
    return result.result().result


def test_humanoid_sits_and_stands_through_the_stack(stack):
    """The sit skill's posture task on /wbc/target: the controller lowers the pelvis by the
    profile's drop with the soles planted and reports the posture reached; walk commands
    meanwhile are ignored; the stand skill brings it back up."""
    processes, commander, observer = stack
    cmd_pub = commander.create_publisher(Twist, "/cmd_vel", 10)
    drop_m = PROFILE["locomotion"]["sit"]["pelvis_drop_m"]

    def pelvis_z() -> float:
        with observer.lock:
            return observer.odom.pose.pose.position.z

    assert wait_until(lambda: observer.state.mode == "stand", 60.0), observer.state.mode
    time.sleep(1.0)
    standing_z = pelvis_z()
    result = run_skill(commander, "sit")
    assert result.success, result.message
    assert observer.task("posture").state == "reached"
    assert observer.state.mode == "sit"
    sitting_z, soles_sitting = pelvis_z(), observer.soles_m()
    walk = Twist()
    walk.linear.x = 0.2
    deadline = time.monotonic() + 3.0
    while time.monotonic() < deadline:  # ignored while sitting
        cmd_pub.publish(walk)
        time.sleep(0.05)
    cmd_pub.publish(Twist())
    time.sleep(0.5)
    drift_m = np.linalg.norm(observer.soles_m() - soles_sitting, axis=1)
    assert observer.state.mode == "sit"
    assert np.all(drift_m < SOLE_DRIFT_M), drift_m
    assert standing_z - sitting_z == pytest.approx(drop_m, abs=0.015)
    assert commander.check_goal("upright(robot)").holds
    result = run_skill(commander, "stand")
    assert result.success, result.message
    assert observer.state.mode == "stand"
    print(f"\nROS sit: pelvis {standing_z:.3f} -> {sitting_z:.3f} m (drop "
          f"{standing_z - sitting_z:.3f} m), soles {np.round(drift_m * 1e3, 2)} mm while sitting "
          f"under a walk command; stood up to {pelvis_z():.3f} m")
    assert pelvis_z() == pytest.approx(standing_z, abs=0.015)
    assert not processes.dead()
