"""Skill base: what a skill is (for the planner), how likely it is to work now (affordance) and
the motion stages it runs. Pure Python: the skill server node executes the stages."""

from abc import ABC, abstractmethod
from dataclasses import dataclass, field

import numpy as np
import pinocchio as pin


@dataclass(frozen=True)
class SkillInfo:
    name: str
    description: str
    text_template: str          # e.g. "put the {object} in the {container}"
    arg_names: tuple[str, ...]
    arg_kinds: tuple[str, ...]  # graspable | container | landmark | any


@dataclass(frozen=True)
class ObjectInfo:
    name: str
    kind: str                   # graspable | container | landmark
    position_base_m: np.ndarray  # geometric centre
    size_m: np.ndarray           # full extents
    yaw_rad: float = 0.0
    visible: bool = True


@dataclass(frozen=True)
class Pose2D:
    """A floating base on the floor: position in odom (m) and heading (rad)."""
    x_m: float
    y_m: float
    yaw_rad: float

    @property
    def xy_m(self) -> np.ndarray:
        return np.array([self.x_m, self.y_m])


@dataclass
class WorldSnapshot:
    """What a skill may know when it decides: perception's objects (and the map's landmarks)
    and the robot's state."""
    objects: dict[str, ObjectInfo] = field(default_factory=dict)
    held_object: str | None = None
    gripper_opening_m: float = 0.0    # per finger
    q_arm: np.ndarray | None = None   # measured arm joints, profile order
    base_pose: Pose2D | None = None   # floating base: from /odom
    posture: str = "stand"            # floating base: the posture last reached
    upright: bool = True              # floating base: not fallen over (from /odom)


@dataclass(frozen=True)
class Stage:
    """One step of a skill's motion: a tool pose to reach, a gripper opening to set, a place
    to walk to or face, or a posture to take."""
    name: str
    tool_pose_base: pin.SE3 | None = None
    gripper_opening_m: float | None = None
    max_linear_speed_mps: float = 0.0   # 0 = controller default
    # after the stage: must (True) or must not (False) hold an object. On a gripper stage it
    # checks the grasp or the release; on a motion stage it catches a drop on the way.
    expect_holding: bool | None = None
    # legged robots: walk until the base is stop_distance_m from a point; turn to face a point;
    # take a named posture of the profile (stand, sit)
    walk_target_xy_m: tuple[float, float] | None = None
    stop_distance_m: float = 0.0
    face_xy_m: tuple[float, float] | None = None
    # legged robots: step onto this base pose (x m, y m, yaw rad in odom) and stand there
    stand_at: tuple[float, float, float] | None = None
    posture: str | None = None
    # tool stages of a robot without a tool frame (a humanoid's hand), and how much the
    # orientation counts there (0: position only)
    frame: str | None = None
    orientation_weight: float = 1.0


# The affordance reason a skill server gives before perception has reported anything: "unknown
# yet", which a planner should wait out rather than read as "impossible".
NO_OBJECTS_YET = "no objects perceived yet"
# The start of the reason while perception has been silent too long ("... 9.2 s"): old news about
# the scene, which a planner should wait out (or give up on) rather than plan on.
PERCEPTION_SILENT = "no perception for"
# The start of the reason a skill gives when its effect already holds ("already done: at the
# blue ball"): a planner may end with `done` after it, it is not stuck on it.
ALREADY_DONE = "already done:"
# The start of the pick skill's reason while the gripper is full ("the gripper already holds
# red_cube"): the one place a planner hears what the gripper holds.
GRIPPER_HOLDS = "the gripper already holds "


class SkillError(ValueError):
    """A call that cannot run: unknown argument, object or precondition. Nothing moves."""


class ClockWatch:
    """Notices a ROS clock that has stopped (simulator paused, wedged or gone) during a wait in
    sim time, which would otherwise never end. Pure: the caller passes both clocks."""

    def __init__(self, stall_s: float) -> None:
        if not stall_s > 0.0:
            raise ValueError(f"stall_s must be > 0, got {stall_s}")
        self.stall_s = stall_s
        self.clock_ns: int | None = None
        self.moved_at_s = 0.0

    def check(self, clock_ns: int, wall_s: float) -> None:
        """Raise SkillError once the clock has not moved for stall_s of wall time."""
        if clock_ns != self.clock_ns:
            self.clock_ns, self.moved_at_s = clock_ns, wall_s
        elif wall_s - self.moved_at_s > self.stall_s:
            raise SkillError(f"the clock stopped: no time passed for {self.stall_s:.1f} s "
                             f"(simulator paused or gone?)")


class Skill(ABC):
    info: SkillInfo

    def check_args(self, args: dict[str, str], world: WorldSnapshot) -> dict[str, ObjectInfo]:
        """Bound objects by argument name; raises SkillError for anything wrong."""
        expected = set(self.info.arg_names)
        if set(args) != expected:
            raise SkillError(f"{self.info.name} takes arguments {sorted(expected)}, "
                             f"got {sorted(args)}")
        bound = {}
        for arg, kind in zip(self.info.arg_names, self.info.arg_kinds, strict=True):
            obj = world.objects.get(args[arg])
            if obj is None:
                raise SkillError(f"unknown object {args[arg]!r} for {arg}")
            if kind != "any" and obj.kind != kind:
                raise SkillError(f"{args[arg]} is a {obj.kind}, {arg} needs a {kind}")
            bound[arg] = obj
        return bound

    def affordance(self, args: dict[str, str], world: WorldSnapshot) -> tuple[float, str]:
        """Probability (0..1) that the call succeeds now, and why."""
        try:
            return self._affordance(self.check_args(args, world), world)
        except SkillError as exc:
            return 0.0, str(exc)

    @abstractmethod
    def _affordance(self, bound: dict[str, ObjectInfo], world: WorldSnapshot) -> tuple[float, str]:
        ...

    def stages(self, args: dict[str, str], world: WorldSnapshot) -> list[Stage]:
        """The motion to run; raises SkillError when the call cannot run now."""
        bound = self.check_args(args, world)
        score, why = self._affordance(bound, world)
        if score <= 0.0:
            raise SkillError(why)
        return self._stages(bound)

    @abstractmethod
    def _stages(self, bound: dict[str, ObjectInfo]) -> list[Stage]:
        ...
