"""Whole-body controller: the object the controller node steps in its fast loop.

One controller for every robot; only the model and the profile differ. The arm is the case
with a fixed base and no contacts. A legged robot adds its free-flyer base to q, contacts
(feet / soles held in place, equality rows of the QP) and tasks such as the centre of mass or
the base orientation.

Each frame target becomes a min-jerk Cartesian trajectory from the current *commanded* pose;
every tick the QP turns the trajectory samples, the other tasks (plus a weak posture task)
and the contacts into a step dq, integrated into the commanded configuration. Skills add,
re-weight and remove tasks and contacts at run time. Thread-safe: the node may call the
setters from ROS callbacks while another thread runs ``update``.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pinocchio as pin

from vla_controller.contacts import CONTACT_ROWS, Contact, contact_gravity_torques
from vla_controller.ik import IkResult, solve_ik
from vla_controller.qp import DiffIkSolver
from vla_controller.robot_model import RobotModel
from vla_controller.tasks import (
    REFERENCES,
    FramePoseTask,
    PostureTask,
    Task,
    check_pose,
    check_weight,
    pose_error,
)
from vla_controller.trajectory import MinJerkPoseTrajectory, min_jerk

POSTURE = "posture"
STATES = ("moving", "reached", "unreachable")


@dataclass(frozen=True)
class TaskStatus:
    name: str
    frame: str
    state: str  # one of STATES
    position_error_m: float  # commanded frame pose vs final target
    orientation_error_rad: float
    measured_position_error_m: float  # measured frame pose vs final target (NaN before data)
    measured_orientation_error_rad: float
    reason: str = ""


@dataclass
class _FrameGoal:
    task: FramePoseTask
    goal_pose_base: pin.SE3
    max_linear_speed_mps: float
    max_angular_speed_radps: float
    position_tolerance_m: float
    orientation_tolerance_rad: float
    state: str = "moving"
    reason: str = ""
    trajectory: MinJerkPoseTrajectory | None = None
    t_s: float = 0.0
    stalled_s: float = 0.0
    errors: tuple[float, float, float, float] = field(default=(np.nan,) * 4)
    posture_q_start: np.ndarray | None = None  # auto posture ramps from here ...
    posture_q_end: np.ndarray | None = None  # ... to the goal's IK solution


def _positive(value: float, what: str) -> float:
    if not check_weight(value, what) > 0.0:
        raise ValueError(f"{what} must be > 0")
    return float(value)


@dataclass(frozen=True)
class _ContactSpec:
    frame: str
    kind: str
    sole_size_m: tuple[float, float] | None
    rolling_radius_m: float | None = None


class WholeBodyController:
    """``posture_q`` and posture targets are joint vectors (name-ordered); ``update`` takes and
    returns full configurations (for a floating base: base pose first, see RobotModel).
    ``com_margin_m``: with contacts, keep the CoM this far inside the support polygon."""

    def __init__(
        self,
        robot: RobotModel,
        tool_frame: str | None,
        dt_s: float,
        velocity_scale: float = 1.0,
        position_margin_rad: float = 0.02,
        resync_threshold_rad: float = 0.15,
        posture_q: np.ndarray | None = None,
        posture_weight: float = 1e-4,
        stall_timeout_s: float = 1.0,
        com_margin_m: float | None = None,
        resync_base_m: float = 0.1,
    ) -> None:
        if tool_frame is not None and not robot.has_frame(tool_frame):
            raise ValueError(f"unknown tool frame {tool_frame!r}")
        self.robot = robot
        self.tool_frame = tool_frame
        self.dt_s = _positive(dt_s, "dt_s")
        self.resync_threshold_rad = _positive(resync_threshold_rad, "resync_threshold_rad")
        self.resync_base_m = _positive(resync_base_m, "resync_base_m")
        self.stall_timeout_s = _positive(stall_timeout_s, "stall_timeout_s")
        self.position_margin_rad = float(position_margin_rad)
        if com_margin_m is not None and not np.isfinite(com_margin_m):
            raise ValueError(f"com_margin_m must be finite, got {com_margin_m}")
        self.com_margin_m = com_margin_m
        self.default_reference = "world" if robot.floating_base else "base"
        self._solver = DiffIkSolver(
            robot, velocity_scale=velocity_scale, position_margin=position_margin_rad
        )
        self._ik_robot = robot.clone()  # own pinocchio Data: IK runs in the caller's thread
        self._lock = threading.Lock()
        self._ik_lock = threading.Lock()
        self._goals: dict[str, _FrameGoal] = {}
        self._tasks: dict[str, Task] = {}  # added by skills as objects (CoM, base, ...)
        self._contact_specs: dict[str, _ContactSpec] = {}
        self._contacts: dict[str, Contact] = {}  # anchored once the command is known
        self._posture_weight = check_weight(posture_weight, "posture_weight")
        self._posture: PostureTask | None = None
        self._posture_explicit = posture_q is not None
        self._posture_goal: _FrameGoal | None = None  # goal whose IK answer drives the posture
        if posture_q is not None:
            self._posture = PostureTask(POSTURE, robot.check_joints(posture_q), posture_weight)
        self._q_cmd: np.ndarray | None = None
        self._q_measured: np.ndarray | None = None
        self._frozen = False
        self.resync_count = 0

    # --- commands (any thread) ---------------------------------------------------------------
    def set_frame_target(
        self,
        name: str,
        frame: str,
        target_pose_base: pin.SE3,
        max_linear_speed_mps: float = 0.25,
        max_angular_speed_radps: float = 1.0,
        position_weight: float = 1.0,
        orientation_weight: float = 1.0,
        position_tolerance_m: float = 1e-3,
        orientation_tolerance_rad: float = np.radians(1.0),
        reference: str | None = None,
    ) -> TaskStatus:
        """Start (or replace) a frame goal; returns its status ("unreachable" at once if so).

        ``reference``: "base" or "world" (default: base for a fixed base, world otherwise);
        the target pose is in that frame.
        """
        if not isinstance(name, str) or not name or name == POSTURE:
            raise ValueError(f"invalid task name {name!r}")
        if not self.robot.has_frame(frame):
            raise ValueError(f"unknown frame {frame!r}")
        reference = self.default_reference if reference is None else reference
        if reference not in REFERENCES:
            raise ValueError(f"reference must be one of {REFERENCES}, got {reference!r}")
        task = FramePoseTask(
            name, frame, target_pose_base, position_weight, orientation_weight,
            reference=reference,
        )
        goal = _FrameGoal(
            task,
            check_pose(target_pose_base),
            _positive(max_linear_speed_mps, "max_linear_speed_mps"),
            _positive(max_angular_speed_radps, "max_angular_speed_radps"),
            _positive(position_tolerance_m, "position_tolerance_m"),
            _positive(orientation_tolerance_rad, "orientation_tolerance_rad"),
        )
        with self._lock:
            if name in self._tasks:
                raise ValueError(f"task name {name!r} is taken by a task object")
            seed = self._seed_q()
            contacts = list(self._contacts.values())
            extra = [t for t in self._tasks.values() if t.weight > 0.0]
        with self._ik_lock:
            ik = solve_ik(
                self._ik_robot,
                goal.goal_pose_base,
                seed,
                frame=frame,
                position_tolerance_m=0.5 * position_tolerance_m,
                orientation_tolerance_rad=0.5 * orientation_tolerance_rad,
                position_weight=position_weight,
                orientation_weight=orientation_weight,
                position_margin=self.position_margin_rad,
                reference=reference,
                contacts=contacts,
                extra_tasks=extra,
                com_margin_m=self.com_margin_m,
            )
        with self._lock:
            self._frozen = False
            self._goals[name] = goal
            self._install(goal, ik)
            return self._status(name, goal)

    def add_task(self, task: Task) -> None:
        """Add (or replace, by name) a task object: CoM, base orientation, a frame pose held
        without a trajectory, ... Its target and weight may be changed between ticks."""
        if not isinstance(task, Task):
            raise ValueError(f"not a Task: {task!r}")
        task.validate(self.robot)
        with self._lock:
            if task.name == POSTURE or task.name in self._goals:
                raise ValueError(f"task name {task.name!r} is taken")
            self._tasks[task.name] = task
            self._frozen = False

    def set_task_weight(self, name: str, weight: float) -> None:
        """Re-weight a task (0 keeps it but switches it off)."""
        with self._lock:
            if name in self._tasks:
                self._tasks[name].set_weight(weight)
            elif name in self._goals:
                self._goals[name].task.set_weight(weight)
            elif name == POSTURE and self._posture is not None:
                self._posture.set_weight(weight)
            else:
                raise ValueError(f"no task named {name!r}")

    def task(self, name: str) -> Task:
        """The live task object (set its target between ticks)."""
        with self._lock:
            if name in self._tasks:
                return self._tasks[name]
            if name in self._goals:
                return self._goals[name].task
            if name == POSTURE and self._posture is not None:
                return self._posture
        raise ValueError(f"no task named {name!r}")

    def remove_task(self, name: str) -> None:
        with self._lock:
            if name == POSTURE and self._posture is not None:
                self._posture, self._posture_explicit = None, True
            elif name in self._goals:
                if self._goals.pop(name) is self._posture_goal:
                    self._posture_goal = None
            elif name in self._tasks:
                del self._tasks[name]
            else:
                raise ValueError(f"no task named {name!r}")

    def add_contact(
        self,
        frame: str,
        kind: str = "plane",
        sole_size_m: Sequence[float] | None = None,
        name: str | None = None,
        rolling_radius_m: float | None = None,
    ) -> None:
        """Hold ``frame`` where it is now commanded (a foot down); "point" = 3 rows, "plane"
        = 6 rows (a flat sole). ``sole_size_m`` (length, width) spans the sole's support
        area for the balance constraint; ``rolling_radius_m``: a round foot that rolls (see
        Contact)."""
        if not self.robot.has_frame(frame):
            raise ValueError(f"unknown contact frame {frame!r}")
        if kind not in CONTACT_ROWS:
            raise ValueError(f"contact kind must be one of {tuple(CONTACT_ROWS)}, got {kind!r}")
        sole = None if sole_size_m is None else tuple(float(x) for x in sole_size_m)
        spec = _ContactSpec(frame, kind, sole, rolling_radius_m)
        # validate now (bad sizes / radii raise here, not in the loop)
        Contact(frame, frame, kind, pin.SE3.Identity(), sole, rolling_radius_m=rolling_radius_m)
        name = frame if name is None else name
        with self._lock:
            self._contact_specs[name] = spec
            self._contacts.pop(name, None)
            if self._q_cmd is not None:
                self._contacts[name] = self._anchor(name, spec)
            self._frozen = False

    def remove_contact(self, name: str) -> None:
        """Release a contact (a foot about to swing)."""
        with self._lock:
            if name not in self._contact_specs:
                raise ValueError(f"no contact named {name!r}")
            del self._contact_specs[name]
            self._contacts.pop(name, None)

    def contacts(self) -> dict[str, Contact]:
        with self._lock:
            return dict(self._contacts)

    def feedforward_torques(self) -> np.ndarray | None:
        """Joint torques (n_joints,) holding the commanded pose against gravity with the
        current contacts carrying the weight; for backends that take torques (or a position
        servo's offset tau / kp). None before the first update."""
        with self._lock:
            if self._q_cmd is None:
                return None
            q, contacts = self._q_cmd.copy(), list(self._contacts.values())
        with self._ik_lock:
            return contact_gravity_torques(self._ik_robot, q, contacts)

    def set_posture(
        self,
        target_q: np.ndarray | Sequence[float] | Mapping[str, float],
        weight: float | None = None,
    ) -> None:
        """Posture target (name-ordered vector or {joint: value}); sticks until removed."""
        if isinstance(target_q, Mapping):
            q = self.robot.vector_from_names(target_q)
        else:
            q = self.robot.check_joints(target_q, "posture target_q")
        weight = self._posture_weight if weight is None else check_weight(weight, "weight")
        q = np.clip(q, self.robot.position_lower, self.robot.position_upper)
        task = PostureTask(POSTURE, q, weight)
        with self._lock:
            self._posture, self._posture_explicit, self._frozen = task, True, False

    def hold(self) -> None:
        """Freeze at the current command: goals become "stay here", no motion until a new goal."""
        with self._lock:
            self._frozen = True
            self._settle_posture()
            for goal in self._goals.values():
                if self._q_cmd is not None:
                    goal.goal_pose_base = goal.task.pose(self.robot, self._q_cmd)
                    goal.task.set_target(goal.goal_pose_base)
                goal.trajectory, goal.state, goal.reason = None, "reached", "held"

    def reset(self) -> None:
        """Re-sync the command to the next measured q."""
        with self._lock:
            self._q_cmd = None

    # --- fast loop -----------------------------------------------------------------------------
    def update(self, q_measured: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One tick: (q_command, v_command) for the measured configuration. Joints are
        name-ordered; v is in the tangent space (rad/s; base twist in base axes)."""
        q_meas = self.robot.check_q(q_measured, "q_measured")
        with self._lock:
            self._q_measured = q_meas
            if self._q_cmd is None:
                self._sync(q_meas)
            elif self._diverged(q_meas):
                self.resync_count += 1  # blocked or pushed: restart from where the robot is
                self._sync(q_meas)
            if self._frozen:
                return self._q_cmd.copy(), np.zeros(self.robot.nv)
            tasks = [t for t in self._tasks.values() if t.weight > 0.0]
            for goal in self._goals.values():
                if goal.trajectory is not None:
                    goal.t_s += self.dt_s
                    goal.task.set_target(goal.trajectory.sample(goal.t_s))
                    self._ramp_posture(goal)
                tasks.append(goal.task)
            if self._posture is not None:
                tasks.append(self._posture)
            dq = self._solver.solve(
                self._q_cmd, tasks, self.dt_s, list(self._contacts.values()), self.com_margin_m,
                checked=True,
            )
            self._q_cmd = self.robot.integrate(self._q_cmd, dq)
            for goal in self._goals.values():
                self._evaluate(goal)
            return self._q_cmd.copy(), dq / self.dt_s

    def status(self) -> dict[str, TaskStatus]:
        with self._lock:
            return {name: self._status(name, goal) for name, goal in self._goals.items()}

    @property
    def q_command(self) -> np.ndarray | None:
        with self._lock:
            return None if self._q_cmd is None else self._q_cmd.copy()

    @property
    def last_solver_status(self) -> str:
        return self._solver.last_status

    # --- internals (lock held) --------------------------------------------------------------
    def _seed_q(self) -> np.ndarray:
        for q in (self._q_cmd, self._q_measured):
            if q is not None:
                return q.copy()
        if self._posture is not None:
            return self.robot.neutral_q(self._posture.target_q)
        return self.robot.neutral_q(0.5 * (self.robot.position_lower + self.robot.position_upper))

    def _diverged(self, q_meas: np.ndarray) -> bool:
        assert self._q_cmd is not None
        if not self.robot.floating_base:
            return bool(np.max(np.abs(q_meas - self._q_cmd)) > self.resync_threshold_rad)
        q_cmd = self._q_cmd
        if np.max(np.abs(q_meas[7:] - q_cmd[7:])) > self.resync_threshold_rad:
            return True
        if math.dist(q_meas[:3], q_cmd[:3]) > self.resync_base_m:
            return True
        # angle between two unit quaternions: 2 acos |<q1, q2>|
        cos_half = min(1.0, abs(float(q_meas[3:7] @ q_cmd[3:7])))
        return 2.0 * np.arccos(cos_half) > self.resync_threshold_rad

    def _anchor(self, name: str, spec: _ContactSpec) -> Contact:
        assert self._q_cmd is not None
        pose = self.robot.frame_pose_world(self._q_cmd, spec.frame)
        return Contact(name, spec.frame, spec.kind, pose, spec.sole_size_m,
                       rolling_radius_m=spec.rolling_radius_m)

    def _install(self, goal: _FrameGoal, ik: IkResult) -> None:
        if not ik.success:
            # Do not move toward it: hold the frame where it is commanded now.
            goal.state, goal.reason, goal.trajectory = "unreachable", ik.reason, None
            if self._q_cmd is not None:
                goal.task.set_target(goal.task.pose(self.robot, self._q_cmd))
            self._settle_posture()
            self._evaluate(goal)
            return
        if not self._posture_explicit:
            # Bias the redundancy toward the IK answer, so the path ends in that configuration.
            goal.posture_q_end = self.robot.joint_part(ik.q).copy()
            self._posture_goal = goal
            start = ik.q if self._q_cmd is None else self._q_cmd
            self._posture = PostureTask(
                POSTURE, self.robot.joint_part(start).copy(), self._posture_weight
            )
        goal.state, goal.reason = "moving", ""
        if self._q_cmd is not None:
            self._start_trajectory(goal)
            self._evaluate(goal)

    def _start_trajectory(self, goal: _FrameGoal) -> None:
        assert self._q_cmd is not None
        start = goal.task.pose(self.robot, self._q_cmd)
        goal.trajectory = MinJerkPoseTrajectory(
            start, goal.goal_pose_base, goal.max_linear_speed_mps, goal.max_angular_speed_radps
        )
        goal.t_s, goal.stalled_s = 0.0, 0.0
        goal.task.set_target(start)
        goal.posture_q_start = self.robot.joint_part(self._q_cmd).copy()

    def _settle_posture(self) -> None:
        # Stop an automatic posture ramp where the command is, so nothing keeps pulling.
        if not self._posture_explicit and self._q_cmd is not None:
            self._posture = PostureTask(
                POSTURE, self.robot.joint_part(self._q_cmd).copy(), self._posture_weight
            )
            self._posture_goal = None

    def _ramp_posture(self, goal: _FrameGoal) -> None:
        # Move the posture target along with the trajectory's progress: a posture target far
        # from the current q would bias (and jolt) the tool; a ramped one pulls only gently.
        if goal is not self._posture_goal or self._posture_explicit or self._posture is None:
            return
        if goal.trajectory is None or goal.posture_q_start is None or goal.posture_q_end is None:
            return
        duration = goal.trajectory.duration_s
        s, _ = min_jerk(1.0 if duration <= 0.0 else goal.t_s / duration)
        start, end = goal.posture_q_start, goal.posture_q_end
        self._posture.target_q = start + s * (end - start)

    def _sync(self, q: np.ndarray) -> None:
        self._q_cmd = self.robot.clip_to_limits(q)
        if self._posture is None and not self._posture_explicit:
            self._posture = PostureTask(
                POSTURE, self.robot.joint_part(self._q_cmd).copy(), self._posture_weight
            )
        # Contacts hold where the feet are now (the robot may have been moved or pushed).
        self._contacts = {n: self._anchor(n, s) for n, s in self._contact_specs.items()}
        for goal in self._goals.values():
            if goal.state == "unreachable" or goal.reason == "held":
                goal.task.set_target(goal.task.pose(self.robot, self._q_cmd))
                if goal.reason == "held":
                    goal.goal_pose_base = goal.task.target_pose_base
            else:
                self._start_trajectory(goal)

    def _evaluate(self, goal: _FrameGoal) -> None:
        errs = [np.nan] * 4
        for i, q in enumerate((self._q_cmd, self._q_measured)):
            if q is not None:
                err = pose_error(goal.task.pose(self.robot, q), goal.goal_pose_base)
                errs[2 * i] = float(np.linalg.norm(err[:3]))
                errs[2 * i + 1] = float(np.linalg.norm(err[3:]))
        goal.errors = tuple(errs)
        if goal.state == "unreachable" or self._q_cmd is None:
            return
        pos_ok = errs[0] <= goal.position_tolerance_m or goal.task.position_weight == 0.0
        ori_ok = errs[1] <= goal.orientation_tolerance_rad or goal.task.orientation_weight == 0.0
        done = goal.trajectory is None or goal.trajectory.done(goal.t_s)
        if done and pos_ok and ori_ok:
            goal.state, goal.stalled_s = "reached", 0.0
            return
        goal.state = "moving"
        if done:
            goal.stalled_s += self.dt_s
            if goal.stalled_s > self.stall_timeout_s:
                # Blocked on the way (limits): stop pushing, hold the commanded pose.
                goal.state, goal.trajectory = "unreachable", None
                goal.reason = (
                    f"blocked on the way: {errs[0] * 1e3:.1f} mm, "
                    f"{np.degrees(errs[1]):.1f} deg from the target"
                )
                goal.task.set_target(goal.task.pose(self.robot, self._q_cmd))

    def _status(self, name: str, goal: _FrameGoal) -> TaskStatus:
        return TaskStatus(name, goal.task.frame, goal.state, *goal.errors, reason=goal.reason)
