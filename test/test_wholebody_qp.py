"""Whole-body QP on the floating-base robots (real pinocchio, proxsuite and MuJoCo; no ROS).

Algorithm level: the free-flyer model (conventions, Jacobians), the QP on random targets
(limits and contacts hold every tick), infeasible targets (best effort, no exception), tasks
added / re-weighted / removed at run time, a quadruped lifting a foot (contact released, weight
shifted by the balance rows). In MuJoCo (SimWorld, sim time): the humanoid reaches a hand target
while both soles stay planted and the CoM stays over the support polygon; the quadruped sways its
body while its round feet roll without slipping.
"""

import os

os.environ.setdefault("MUJOCO_GL", "egl")

import numpy as np  # noqa: E402
import pinocchio as pin  # noqa: E402
import pytest  # noqa: E402

from vla_bringup.profile import load_profile  # noqa: E402
from vla_controller.contacts import (  # noqa: E402
    Contact,
    com_stability_margin,
    convex_hull_2d,
    signed_distance_inside,
)
from vla_controller.qp import DiffIkSolver, position_band  # noqa: E402
from vla_controller.robot_model import RobotModel  # noqa: E402
from vla_controller.tasks import (  # noqa: E402
    BaseOrientationTask,
    ComTask,
    FramePoseTask,
    PostureTask,
)
from vla_controller.wholebody import add_standing_tasks, controller_from_profile  # noqa: E402

LEGGED = ("quadruped", "humanoid")
CONTACT_TOL_M = 1e-6  # contact frames at rest: numerical tolerance
CONTACT_TOL_RAD = 1e-6
# While joints move at their full speed (~0.04 rad per 2 ms tick), a first-order step leaves the
# contacts off by ~|dq|^2 x lever, so ~dt^2; the next tick's rows take that back (no
# accumulation). 0.5 mm at 2 ms ticks, scaled to the profile's control period.
MOVING_CONTACT_TOL_2MS = 5e-4


def moving_contact_tol(dt_s: float) -> float:
    return MOVING_CONTACT_TOL_2MS * max(1.0, dt_s / 0.002) ** 2
COM_MARGIN_M = 0.02


@pytest.fixture(scope="module", params=LEGGED)
def legged(request):
    profile = load_profile(request.param)
    return profile, RobotModel.from_profile(profile)


def standing_q(robot: RobotModel, profile: dict) -> np.ndarray:
    q_joints = robot.vector_from_names(profile["default_joint_positions"])
    base_m = [0.0, 0.0, profile["base_height_m"]]
    return robot.floating_configuration(base_m, [1, 0, 0, 0], q_joints)


def make_contacts(robot: RobotModel, profile: dict, q: np.ndarray) -> list[Contact]:
    return [
        Contact(f, f, profile["contact_type"], robot.frame_pose_world(q, f),
                profile.get("sole_size_m"))
        for f in profile["contact_frames"]
    ]


# --- model -----------------------------------------------------------------------------------
def test_free_flyer_model_maps_joints_by_name_with_urdf_limits(legged):
    profile, robot = legged
    names = [n for group in profile["joint_groups"].values() for n in group]
    assert robot.floating_base and robot.joint_names == tuple(names)
    assert (robot.nq, robot.nv) == (7 + len(names), 6 + len(names))
    shuffled = RobotModel.from_urdf(profile["urdf"], names[::-1], floating_base=True)
    q = standing_q(robot, profile)
    q_shuffled = np.concatenate([q[:7], robot.joint_part(q)[::-1]])
    for frame in profile["contact_frames"]:
        assert np.allclose(robot.frame_pose_world(q, frame).homogeneous,
                           shuffled.frame_pose_world(q_shuffled, frame).homogeneous)
    urdf = pin.buildModelFromUrdf(profile["urdf"])
    for name in names:
        jid = urdf.getJointId(name)
        limits = robot.limits(name)
        assert limits.position_lower == urdf.lowerPositionLimit[urdf.idx_qs[jid]]
        assert limits.velocity == urdf.velocityLimit[urdf.idx_vs[jid]] > 0.0
    # Standing pose: the contact frames are on the floor.
    for frame in profile["contact_frames"]:
        height = robot.frame_pose_world(q, frame).translation[2]
        assert abs(height - profile.get("foot_radius_m", 0.0)) < 0.01


def test_quaternion_and_velocity_conventions():
    profile = load_profile("humanoid")
    robot = RobotModel.from_profile(profile)
    q_joints = robot.vector_from_names(profile["default_joint_positions"])
    yaw = 0.7
    quat_wxyz = [np.cos(yaw / 2), 0.0, 0.0, np.sin(yaw / 2)]  # MuJoCo order
    q = robot.floating_configuration([1.0, 2.0, 0.75], quat_wxyz, q_joints)
    base = robot.base_pose_world(q)
    assert np.allclose(base.rotation, pin.rpy.rpyToMatrix(0.0, 0.0, yaw))
    assert np.allclose(base.translation, [1.0, 2.0, 0.75])
    # A base moving along world +x (MuJoCo's free-joint convention) becomes local axes.
    v = robot.floating_velocity(q, [1.0, 0.0, 0.0], [0.0, 0.0, 0.0], np.zeros(robot.n_joints))
    assert np.allclose(v[:3], [np.cos(yaw), -np.sin(yaw), 0.0])
    jac = robot.frame_jacobian_world(q, robot.base_frame)
    assert np.allclose(jac[:3] @ v, [1.0, 0.0, 0.0])
    with pytest.raises(ValueError):
        robot.floating_configuration([0, 0, 0], [0, 0, 0, 0], q_joints)
    with pytest.raises(ValueError):
        robot.check_q(np.full(robot.nq, np.nan))


def test_jacobians_match_finite_differences(legged):
    profile, robot = legged
    rng = np.random.default_rng(1)
    frame = (profile.get("end_effector_frames") or profile["contact_frames"])[0]
    for _ in range(5):
        q = standing_q(robot, profile)
        q[robot.base_nq:] = rng.uniform(*position_band(robot, 0.1))
        q = robot.integrate(q, np.concatenate([rng.normal(size=6) * 0.3,
                                               np.zeros(robot.n_joints)]))
        dq = rng.normal(size=robot.nv) * 1e-6
        q2 = robot.integrate(q, dq)
        for pose_fn, jac_fn in ((robot.frame_pose_world, robot.frame_jacobian_world),
                                (robot.frame_pose_base, robot.frame_jacobian_base)):
            a, b = pose_fn(q, frame), pose_fn(q2, frame)
            jac = jac_fn(q, frame)
            assert np.allclose(b.translation - a.translation, jac[:3] @ dq, atol=1e-11)
            assert np.allclose(pin.log3(b.rotation @ a.rotation.T), jac[3:] @ dq, atol=1e-11)
        com_step = robot.com_world(q2) - robot.com_world(q)
        assert np.allclose(com_step, robot.com_jacobian_world(q) @ dq, atol=1e-11)
        for task in (ComTask("c", [0.1, 0.0, 0.5]), BaseOrientationTask("b", np.eye(3))):
            e1, jac = task.compute(robot, q)
            e2, _ = task.compute(robot, q2)
            assert np.allclose(e2 - e1, jac @ dq, atol=1e-10)


# --- QP --------------------------------------------------------------------------------------
def check_step(robot, solver, q, q_next, dq, contacts, dt_s, contact_tol=None):
    joints = robot.joint_part(q_next)
    lower, upper = position_band(robot, solver.position_margin)
    q_joints = robot.joint_part(q)
    # inside the band, or (if it started outside) not moving further out
    assert np.all((joints >= lower - 1e-9) | (joints >= q_joints - 1e-12))
    assert np.all((joints <= upper + 1e-9) | (joints <= q_joints + 1e-12))
    assert robot.within_limits(q_next)
    assert np.all(np.abs(dq[robot.base_nv:]) <= robot.velocity_limit * dt_s + 1e-12)
    for contact in contacts:
        pos_err, rot_err = contact.drift(robot, q_next)
        contact_tol = moving_contact_tol(dt_s) if contact_tol is None else contact_tol
        assert pos_err < contact_tol
        if contact.kind == "plane":
            assert rot_err < contact_tol


def random_targets_run(robot, profile, rng, n_targets=4, ticks=150):
    dt_s = 1.0 / profile["control_rate_hz"]
    q = standing_q(robot, profile)
    contacts = make_contacts(robot, profile, q)
    solver = DiffIkSolver(robot, position_margin=0.02)
    com0 = robot.com_world(q)
    frames = [f for f in profile["end_effector_frames"] if f not in profile["contact_frames"]]
    for _ in range(n_targets):
        tasks = [
            BaseOrientationTask("base", pin.rpy.rpyToMatrix(*rng.uniform(-0.3, 0.3, 3)),
                                rng.uniform(0.1, 2.0)),
            ComTask("com", com0 + rng.uniform(-0.15, 0.15, 3), [*rng.uniform(0, 10, 2), 1.0]),
            PostureTask("posture", rng.uniform(robot.position_lower - 0.5,
                                               robot.position_upper + 0.5), 1e-3),
        ]
        for frame in frames:  # hands: anywhere within a metre, reachable or not
            target = pin.SE3(pin.rpy.rpyToMatrix(*rng.uniform(-np.pi, np.pi, 3)),
                             robot.frame_pose_world(q, frame).translation
                             + rng.uniform(-1.0, 1.0, 3))
            tasks.append(FramePoseTask(frame, frame, target, 1.0, rng.uniform(0, 1),
                                       reference="world"))
        for _ in range(ticks):
            dq = solver.solve(q, tasks, dt_s, contacts, COM_MARGIN_M)
            assert solver.last_status == "solved", solver.last_status
            q_next = robot.integrate(q, dq)
            check_step(robot, solver, q, q_next, dq, contacts, dt_s)
            margin = com_stability_margin(robot, q_next, contacts)
            assert margin >= COM_MARGIN_M - moving_contact_tol(dt_s)
            q = q_next
    hold = [PostureTask("hold", robot.joint_part(q).copy(), 1e-3)]
    for _ in range(20):  # nothing asked to move: the contacts settle to numerical tolerance
        dq = solver.solve(q, hold, dt_s, contacts, COM_MARGIN_M)
        q_next = robot.integrate(q, dq)
        check_step(robot, solver, q, q_next, dq, contacts, dt_s)
        q = q_next
    assert com_stability_margin(robot, q, contacts) >= COM_MARGIN_M - 1e-6
    for contact in contacts:
        assert contact.drift(robot, q)[0] < CONTACT_TOL_M
        assert contact.kind == "point" or contact.drift(robot, q)[1] < CONTACT_TOL_RAD
    return q


def test_qp_keeps_limits_contacts_and_balance_on_random_targets(legged):
    profile, robot = legged
    for seed in range(3):
        random_targets_run(robot, profile, np.random.default_rng(seed))


def test_out_of_reach_hand_target_degrades_gracefully():
    profile = load_profile("humanoid")
    robot = RobotModel.from_profile(profile)
    dt_s = 1.0 / profile["control_rate_hz"]
    q = standing_q(robot, profile)
    contacts = make_contacts(robot, profile, q)
    hand = "right_hand"
    far = pin.SE3(np.eye(3), np.array([3.0, -1.0, 2.5]))  # metres beyond any reach
    # capped error: the hand chases at most 1 mm per tick (0.5 m/s), so it can settle
    task = FramePoseTask("reach", hand, far, 1.0, 0.0, reference="world", max_error_m=1e-3)
    solver = DiffIkSolver(robot, position_margin=0.02)
    start_error = task.errors(robot, q)[0]
    for _ in range(1500):
        dq = solver.solve(q, [task, PostureTask("p", robot.joint_part(q), 1e-4)], dt_s,
                          contacts, COM_MARGIN_M)
        q_next = robot.integrate(q, dq)
        check_step(robot, solver, q, q_next, dq, contacts, dt_s)
        margin = com_stability_margin(robot, q_next, contacts)
        assert margin >= COM_MARGIN_M - moving_contact_tol(dt_s)
        q = q_next
    # best effort: the hand got as close as the feet and balance allow, and stays put there
    assert task.errors(robot, q)[0] < start_error - 0.2
    assert all(c.drift(robot, q)[0] < CONTACT_TOL_M for c in contacts)
    assert com_stability_margin(robot, q, contacts) >= COM_MARGIN_M - 1e-6
    assert np.max(np.abs(dq)) < 1e-3  # settled: no full-speed chatter against the limits
    # The controller reports it instead of trying: IK finds no solution, the goal holds still.
    wbc, _ = controller_from_profile(profile)
    wbc.update(q)
    status = wbc.set_frame_target("reach", hand, far, orientation_weight=0.0)
    assert status.state == "unreachable" and status.reason
    q_cmd = wbc.q_command
    for _ in range(20):
        q_cmd, _ = wbc.update(q_cmd)
    assert np.linalg.norm(robot.difference(q, q_cmd)) < 1e-6


def test_infeasible_contacts_fall_back_to_standing_still():
    # A contact anchored 10 cm away from where its foot is: the rows cannot be met within the
    # step limits; the solver must not return a step that breaks them, nor raise.
    profile = load_profile("quadruped")
    robot = RobotModel.from_profile(profile)
    q = standing_q(robot, profile)
    contacts = make_contacts(robot, profile, q)
    bad = robot.frame_pose_world(q, "fl_foot")
    bad.translation = bad.translation + np.array([0.1, 0.0, 0.0])
    contacts[0] = Contact("fl_foot", "fl_foot", "point", bad)
    solver = DiffIkSolver(robot)
    dq = solver.solve(q, [ComTask("c", robot.com_world(q) + 0.05)], 0.002, contacts)
    assert "solved" != solver.last_status and not np.any(dq)


def test_rolling_foot_rows_hold_the_touching_material_point():
    # A round foot rolls: the rows must be the velocity of the foot's material point that
    # touches the ground (centre + R R0^T d), not of the centre.
    profile = load_profile("quadruped")
    robot = RobotModel.from_profile(profile)
    radius = profile["foot_radius_m"]
    rng = np.random.default_rng(3)
    q = standing_q(robot, profile)
    foot = "fl_foot"
    contact = Contact(foot, foot, "point", robot.frame_pose_world(q, foot),
                      rolling_radius_m=radius)
    a_rows, b_rhs = contact.equality(robot, q)
    assert a_rows.shape == (3, robot.nv) and np.allclose(b_rhs, 0.0)
    d = np.array([0.0, 0.0, -radius])
    pose = robot.frame_pose_world(q, foot)
    for _ in range(5):
        dq = rng.normal(size=robot.nv) * 1e-6
        moved = robot.frame_pose_world(robot.integrate(q, dq), foot)
        material = moved.translation + moved.rotation @ pose.rotation.T @ d
        assert np.allclose(material - (pose.translation + d), a_rows @ dq, atol=1e-11)
    with pytest.raises(ValueError):
        Contact("s", "left_sole", "plane", pin.SE3.Identity(), rolling_radius_m=0.02)


# --- controller ------------------------------------------------------------------------------
def test_controller_from_each_profile(legged):
    profile, robot = legged
    wbc, servo = controller_from_profile(profile)
    contacts = wbc.contacts()
    assert contacts == {}  # anchored at the first update, where the feet really are
    q = standing_q(robot, profile)
    q_cmd, v_cmd = wbc.update(q)
    assert q_cmd.shape == (robot.nq,) and v_cmd.shape == (robot.nv,)
    rows = {"point": 3, "plane": 6}[profile["contact_type"]]
    assert sorted(wbc.contacts()) == sorted(profile["contact_frames"])
    assert all(c.rows == rows for c in wbc.contacts().values())
    targets = servo.targets(q_cmd, v_cmd, list(wbc.contacts().values()), q, np.zeros(robot.nv))
    # gravity feed-forward: the weight is carried (the legs' torques are not zero)
    assert np.max(np.abs(targets.tau)) > 1.0 and targets.q.shape == (robot.n_joints,)
    arm, arm_servo = controller_from_profile(load_profile("arm"))
    assert not arm.robot.floating_base and arm.contacts() == {}


def test_tasks_are_added_reweighted_and_removed_at_run_time():
    profile = load_profile("humanoid")
    wbc, _ = controller_from_profile(profile)
    robot = wbc.robot.clone()
    q = wbc.update(standing_q(robot, profile))[0]
    add_standing_tasks(wbc)
    com0 = robot.com_world(q)
    shifted = com0 + np.array([0.0, 0.04, 0.0])
    wbc.task("com").set_target(shifted)
    for _ in range(1000):
        q = wbc.update(q)[0]
    assert np.linalg.norm(robot.com_world(q)[:2] - shifted[:2]) < 2e-3
    wbc.set_task_weight("com", 0.0)  # off: the posture task takes the body back
    for _ in range(1500):
        q = wbc.update(q)[0]
    assert np.linalg.norm(robot.com_world(q)[:2] - shifted[:2]) > 0.02
    wbc.set_task_weight("com", 10.0)  # on again: back over the shifted target
    for _ in range(1000):
        q = wbc.update(q)[0]
    assert np.linalg.norm(robot.com_world(q)[:2] - shifted[:2]) < 2e-3
    wbc.task("com").set_target(com0)  # a new target for the live task object
    for _ in range(1000):
        q = wbc.update(q)[0]
    assert np.linalg.norm(robot.com_world(q)[:2] - com0[:2]) < 2e-3
    wbc.remove_task("com")
    with pytest.raises(ValueError):
        wbc.task("com")
    with pytest.raises(ValueError):
        wbc.set_task_weight("com", 1.0)
    with pytest.raises(ValueError):
        wbc.add_contact("no_such_frame")
    with pytest.raises(ValueError):
        wbc.add_contact("left_sole", kind="line")
    with pytest.raises(ValueError):
        wbc.update(np.full(robot.nq, np.nan))
    with pytest.raises(ValueError):
        wbc.task("base_orientation").set_weight(-1.0)
    # feet never moved through all of this
    for contact in wbc.contacts().values():
        assert contact.drift(robot, q)[0] < CONTACT_TOL_M


# --- MuJoCo ----------------------------------------------------------------------------------
def test_humanoid_reaches_with_a_hand_while_the_feet_stay_planted():
    from vla_sim.scene import load_scene
    from vla_sim.world import SimWorld

    profile = load_profile("humanoid")
    world = SimWorld(profile, load_scene(profile["default_scene"]))
    wbc, servo = controller_from_profile(profile)
    robot = wbc.robot.clone()
    assert list(robot.joint_names) == world.joint_names
    m, d = world.model, world.data
    soles = profile["contact_frames"]
    sole_ids = [m.body(s).id for s in soles]
    hand_id = m.body("right_hand").id
    base_id = m.body(profile["base_frame"]).id
    half = 0.5 * np.asarray(profile["sole_size_m"])
    corners = np.array([[sx * half[0], sy * half[1], 0.0] for sx in (-1, 1) for sy in (-1, 1)])

    def measured() -> tuple[np.ndarray, np.ndarray]:
        pos, quat = world.robot_base_pose()
        q = robot.floating_configuration(pos, quat, world.joint_positions())
        lin, ang = world.robot_base_velocity()
        return q, robot.floating_velocity(q, lin, ang, world.joint_velocities())

    def com_margin_measured() -> float:
        points = np.vstack([corners @ d.xmat[b].reshape(3, 3).T + d.xpos[b] for b in sole_ids])
        return signed_distance_inside(d.subtree_com[base_id][:2], convex_hull_2d(points))

    steps_per_tick = int(round(wbc.dt_s / world.physics_dt_s))

    def tick() -> None:
        q, v = measured()
        q_cmd, v_cmd = wbc.update(q)
        out = servo.targets(q_cmd, v_cmd, list(wbc.contacts().values()), q, v)
        world.set_joint_targets(world.joint_names, out.q, out.v)
        world.step(steps_per_tick)

    tick()  # anchors the contacts where the soles are
    add_standing_tasks(wbc)
    for _ in range(int(1.0 / wbc.dt_s)):  # let the stabiliser settle the stance (sim time)
        tick()
    soles_start = [d.xpos[b].copy() for b in sole_ids]
    hand = d.xpos[hand_id].copy()
    # Forward, up and inward: 32 cm from where the hand hangs, in front of the chest.
    target = pin.SE3(np.eye(3), hand + np.array([0.25, 0.08, 0.18]))
    status = wbc.set_frame_target("reach", "right_hand", target, max_linear_speed_mps=0.2,
                                  orientation_weight=0.0, position_tolerance_m=2e-3)
    assert status.state == "moving", status
    worst_sole_mm, worst_margin = 0.0, np.inf
    t_end = world.time_s + 5.0
    while world.time_s < t_end:
        tick()
        drift = max(np.linalg.norm(d.xpos[b] - s) for b, s in zip(sole_ids, soles_start,
                                                                 strict=True))
        worst_sole_mm = max(worst_sole_mm, 1e3 * drift)
        worst_margin = min(worst_margin, com_margin_measured())
    hand_error_m = float(np.linalg.norm(d.xpos[hand_id] - target.translation))
    print(f"hand error {hand_error_m * 1e3:.2f} mm, worst sole drift {worst_sole_mm:.3f} mm, "
          f"worst CoM margin {worst_margin * 1e3:.1f} mm")
    assert wbc.status()["reach"].state == "reached"
    assert hand_error_m < 0.02
    assert worst_sole_mm < 5.0
    assert worst_margin > 0.0  # balance: the CoM never left the support polygon
    assert wbc.resync_count == 0


def test_quadruped_sways_its_body_while_the_feet_roll_but_do_not_slip():
    from vla_sim.scene import load_scene
    from vla_sim.world import SimWorld

    profile = load_profile("quadruped")
    world = SimWorld(profile, load_scene(profile["default_scene"]))
    wbc, servo = controller_from_profile(profile)
    robot = wbc.robot.clone()
    m, d = world.model, world.data
    feet = [m.body(f).id for f in profile["contact_frames"]]
    radius = profile["foot_radius_m"]

    def tick() -> None:
        pos, quat = world.robot_base_pose()
        q = robot.floating_configuration(pos, quat, world.joint_positions())
        lin, ang = world.robot_base_velocity()
        v = robot.floating_velocity(q, lin, ang, world.joint_velocities())
        q_cmd, v_cmd = wbc.update(q)
        out = servo.targets(q_cmd, v_cmd, list(wbc.contacts().values()), q, v)
        world.set_joint_targets(world.joint_names, out.q, out.v)
        world.step(int(round(wbc.dt_s / world.physics_dt_s)))

    tick()
    q0 = wbc.q_command
    base = FramePoseTask("sway", robot.base_frame, robot.frame_pose_world(q0, robot.base_frame),
                         reference="world")
    wbc.add_task(base)
    start = base.target_pose
    for _ in range(250):
        tick()
    feet_start = [(d.xpos[b].copy(), d.xmat[b].reshape(3, 3).copy()) for b in feet]
    worst_slip_m, worst_base_m = 0.0, 0.0
    period_s, t0 = 4.0, world.time_s
    while world.time_s < t0 + period_s:
        phase = 2.0 * np.pi * (world.time_s - t0) / period_s
        # body sway: 3 cm forward/sideways, 4 cm down and up, 0.1 rad roll and pitch
        target = pin.SE3(pin.rpy.rpyToMatrix(0.1 * np.sin(phase), 0.1 * (np.cos(phase) - 1), 0),
                         start.translation + [0.03 * np.sin(phase), 0.03 * np.sin(phase),
                                              0.04 * (np.cos(phase) - 1.0)])
        base.set_target(target)
        tick()
        for body, (position, rotation) in zip(feet, feet_start, strict=True):
            turned = pin.log3(d.xmat[body].reshape(3, 3) @ rotation.T)
            rolled = radius * np.array([turned[1], -turned[0]])  # centre moves r x angle
            slip = np.linalg.norm(d.xpos[body][:2] - position[:2] - rolled)
            worst_slip_m = max(worst_slip_m, float(slip))
        if world.time_s > t0 + 0.5:
            base_error = np.linalg.norm(world.robot_base_pose()[0] - target.translation)
            worst_base_m = max(worst_base_m, float(base_error))
    print(f"worst foot slip {worst_slip_m * 1e3:.2f} mm, "
          f"worst base error {worst_base_m * 1e3:.2f} mm")
    assert worst_slip_m < 0.002
    assert worst_base_m < 0.005
    assert wbc.resync_count == 0


def test_quadruped_lifts_a_foot_after_shifting_its_weight():
    # What a gait needs from the QP: release a contact, the balance rows move the CoM into
    # the triangle of the three feet left, the swing foot follows its own target.
    profile = load_profile("quadruped")
    wbc, _ = controller_from_profile(profile)
    robot = wbc.robot.clone()
    q = wbc.update(standing_q(robot, profile))[0]
    wbc.remove_contact("fl_foot")
    stance = list(wbc.contacts().values())
    assert len(stance) == 3 and com_stability_margin(robot, q, stance) < wbc.com_margin_m
    lifted = robot.frame_pose_world(q, "fl_foot")
    lifted.translation = lifted.translation + np.array([0.0, 0.0, 0.05])
    status = wbc.set_frame_target("swing", "fl_foot", lifted, orientation_weight=0.0,
                                  max_linear_speed_mps=0.2)
    assert status.state == "moving", status
    for _ in range(2000):
        q = wbc.update(q)[0]
        if wbc.status()["swing"].state == "reached":
            break
    assert wbc.status()["swing"].state == "reached"
    assert com_stability_margin(robot, q, stance) >= wbc.com_margin_m - 1e-4
    for contact in stance:
        assert contact.drift(robot, q)[0] < 1e-5
    assert robot.frame_pose_world(q, "fl_foot").translation[2] > lifted.translation[2] - 1e-3
