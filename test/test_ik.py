"""Robot model, tasks, QP limits, IK and trajectories on the real arm URDF (real pinocchio)."""

from pathlib import Path

import numpy as np
import pinocchio as pin
import pytest
import yaml

from vla_controller import (
    DiffIkSolver,
    FramePoseTask,
    MinJerkPoseTrajectory,
    PostureTask,
    RobotModel,
    solve_ik,
)
from vla_controller.tasks import tool_down_pose

REPO = Path(__file__).resolve().parents[1]
PROFILE = yaml.safe_load((REPO / "config/robots/arm.yaml").read_text())


def tool_down(x: float, y: float, z: float, yaw: float = 0.0) -> pin.SE3:
    return tool_down_pose([x, y, z], yaw)


@pytest.fixture(scope="module")
def home() -> np.ndarray:
    return np.array(PROFILE["home_joint_positions"])


def test_joints_are_mapped_by_name_not_index(robot, home):
    names = list(PROFILE["arm_joints"])
    shuffled = RobotModel.from_urdf(REPO / PROFILE["urdf"], names[::-1], tool_frame="tool0")
    pose = robot.frame_pose_base(home, "tool0")
    pose_shuffled = shuffled.frame_pose_base(home[::-1], "tool0")
    assert np.allclose(pose.homogeneous, pose_shuffled.homogeneous)
    limits = shuffled.limits("arm_joint_4")
    assert limits.position_upper == pytest.approx(-0.07)
    assert limits.velocity > 0 and limits.effort > 0
    assert shuffled.position_upper[names[::-1].index("arm_joint_4")] == pytest.approx(-0.07)
    q = robot.vector_from_names(dict(zip(names, home, strict=True)))
    assert np.array_equal(q, home)
    with pytest.raises(ValueError):
        robot.limits("no_such_joint")
    with pytest.raises(ValueError):
        RobotModel.from_urdf(REPO / PROFILE["urdf"], ["arm_joint_1", "bogus"])


def test_tool_frame_points_down_at_home(robot, home):
    pose = robot.frame_pose_base(home, "tool0")
    assert pose.rotation[:, 2] @ np.array([0.0, 0.0, -1.0]) > 0.99
    assert 0.2 < pose.translation[2] < 0.8


def test_task_jacobian_matches_finite_differences(robot, home):
    task = FramePoseTask("t", "tool0", tool_down(0.5, 0.1, 0.1, 0.3))
    q = home + 0.1
    error, jac = task.compute(robot, q)
    eps = 1e-6
    for i in range(robot.n_joints):
        dq = np.zeros(robot.n_joints)
        dq[i] = eps
        error_i, _ = task.compute(robot, q + dq)
        assert np.allclose((error_i - error) / eps, jac[:, i], atol=1e-5)


def test_ik_reaches_random_workspace_targets_within_limits(robot, home):
    rng = np.random.default_rng(7)
    for _ in range(30):
        xyz = rng.uniform([0.30, -0.30, 0.02], [0.65, 0.30, 0.30])
        target = tool_down(*xyz, yaw=rng.uniform(-np.pi / 2, np.pi / 2))
        result = solve_ik(robot, target, home)
        assert result.success, result.reason
        assert robot.within_limits(result.q)
        # Check the answer independently of the solver's own error report.
        pose = robot.frame_pose_base(result.q, "tool0")
        assert np.linalg.norm(pose.translation - target.translation) < 1e-3
        assert np.linalg.norm(pin.log3(pose.rotation @ target.rotation.T)) < np.radians(1.0)


@pytest.mark.parametrize(
    "target",
    [
        tool_down(2.0, 0.0, 0.2),  # 2 m away
        tool_down(-1.5, 0.3, 0.3),  # far behind the base
        tool_down(0.3, 0.0, 1.2),  # inside the reach sphere, too high to point down
    ],
)
def test_ik_unreachable_reports_failure_with_closest_q(robot, home, target):
    result = solve_ik(robot, target, home)
    assert not result.success
    assert result.reason and result.reason != "reached"
    assert np.all(np.isfinite(result.q)) and robot.within_limits(result.q)
    assert np.isfinite(result.position_error_m) and result.position_error_m > 1e-3
    # "closest": no worse than where it started
    seed_error = np.linalg.norm(
        robot.frame_pose_base(home, "tool0").translation - target.translation
    )
    assert result.position_error_m <= seed_error + 1e-9


def test_ik_rejects_bad_input(robot, home):
    bad = tool_down(0.5, 0.0, 0.1)
    bad.translation = np.array([0.5, np.nan, 0.1])
    with pytest.raises(ValueError):
        solve_ik(robot, bad, home)
    with pytest.raises(ValueError):
        solve_ik(robot, tool_down(0.5, 0.0, 0.1), np.where(np.arange(home.size) == 2, np.nan, home))
    with pytest.raises(ValueError):
        solve_ik(robot, tool_down(0.5, 0.0, 0.1), home[:3])
    with pytest.raises(ValueError):
        solve_ik(robot, tool_down(0.5, 0.0, 0.1), home, frame="no_such_frame")


def test_position_only_ik_ignores_orientation(robot, home):
    target = pin.SE3(pin.exp3(np.array([0.3, -2.0, 0.5])), np.array([0.45, -0.1, 0.5]))
    result = solve_ik(robot, target, home, orientation_weight=0.0)
    assert result.success, result.reason
    reached = robot.frame_pose_base(result.q, "tool0").translation
    assert np.linalg.norm(reached - target.translation) < 1e-3
    with pytest.raises(ValueError):
        solve_ik(robot, target, home, position_weight=0.0, orientation_weight=0.0)


def test_qp_never_violates_position_or_velocity_limits(robot):
    rng = np.random.default_rng(3)
    lower, upper = robot.position_lower, robot.position_upper
    for _ in range(200):
        scale = rng.uniform(0.1, 1.0)
        solver = DiffIkSolver(robot, velocity_scale=scale, position_margin=rng.uniform(0, 0.05))
        # Configurations anywhere in range, often pressed against a limit.
        q = rng.uniform(lower, upper)
        pinned = rng.random(robot.n_joints) < 0.3
        q[pinned] = np.where(rng.random(pinned.sum()) < 0.5, lower[pinned], upper[pinned])
        target = pin.SE3(pin.exp3(rng.normal(size=3)), rng.uniform(-1.5, 1.5, size=3))
        tasks = [
            FramePoseTask("tool", "tool0", target, gain=rng.uniform(0.1, 1.0)),
            PostureTask("posture", rng.uniform(lower - 1, upper + 1), rng.uniform(0, 1)),
        ]
        dt_s = rng.uniform(0.001, 0.1)
        dq = solver.solve(q, tasks, dt_s)
        assert np.all(np.isfinite(dq))
        assert robot.within_limits(q + dq, tol=1e-12)
        assert np.all(np.abs(dq) <= scale * robot.velocity_limit * dt_s + 1e-12)


def test_qp_step_reduces_task_error(robot, home):
    task = FramePoseTask("tool", "tool0", tool_down(0.5, 0.1, 0.2))
    solver = DiffIkSolver(robot)
    q = home.copy()
    errors = [task.errors(robot, q)[0]]
    for _ in range(20):
        q = q + solver.solve(q, [task], 0.004)
        errors.append(task.errors(robot, q)[0])
    assert np.all(np.diff(errors) < 0)


def test_min_jerk_trajectory_respects_speeds_and_stays_straight():
    start, end = tool_down(0.4, -0.2, 0.3), tool_down(0.6, 0.2, 0.05, 1.2)
    traj = MinJerkPoseTrajectory(start, end, 0.2, 0.8)
    assert np.allclose(traj.sample(0.0).homogeneous, start.homogeneous)
    assert np.allclose(traj.sample(traj.duration_s).homogeneous, end.homogeneous)
    assert np.allclose(traj.sample(traj.duration_s + 5.0).homogeneous, end.homogeneous)
    direction = (end.translation - start.translation) / traj.distance_m
    dt_s = 0.004
    times = np.arange(0.0, traj.duration_s + dt_s, dt_s)
    poses = [traj.sample(t) for t in times]
    for a, b in zip(poses, poses[1:], strict=False):
        assert np.linalg.norm(b.translation - a.translation) <= 0.2 * dt_s * (1 + 1e-6)
        assert np.linalg.norm(pin.log3(a.rotation.T @ b.rotation)) <= 0.8 * dt_s * (1 + 1e-6)
        offset = a.translation - start.translation
        assert np.linalg.norm(offset - (offset @ direction) * direction) < 1e-9
    linear, angular = traj.velocity(0.5 * traj.duration_s)
    assert max(np.linalg.norm(linear) / 0.2, np.linalg.norm(angular) / 0.8) == pytest.approx(1.0)
    with pytest.raises(ValueError):
        MinJerkPoseTrajectory(start, end, 0.0, 1.0)
