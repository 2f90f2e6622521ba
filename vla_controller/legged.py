"""One interface over the legged locomotion controllers, chosen by the profile's
`gait` (trot: vla_controller.locomotion.quadruped, biped:
vla_controller.locomotion.humanoid_walking). The controller node only talks to this."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from vla_controller.locomotion.humanoid_walking import HumanoidWalking
from vla_controller.locomotion.quadruped import QuadrupedLocomotion, QuadrupedState


@dataclass(frozen=True)
class LeggedSensors:
    """What the node hears: /joint_states (by name), /odom (pose in odom, twist in base axes),
    /imu (orientation in odom, angular velocity in base axes)."""
    joint_positions_rad: dict[str, float]
    joint_velocities_rad_s: dict[str, float]
    base_position_odom_m: np.ndarray
    base_quat_wxyz: np.ndarray
    base_linear_velocity_base_m_s: np.ndarray
    base_angular_velocity_base_rad_s: np.ndarray


@dataclass(frozen=True)
class LegCommand:
    names: tuple[str, ...]
    positions_rad: np.ndarray
    velocities_rad_s: np.ndarray


class Locomotion:
    """A legged robot's gait behind one API: postures, velocity commands, joint targets."""
    postures: tuple[str, ...] = ("stand",)

    def __init__(self, profile: dict[str, Any]) -> None:
        self.joint_names: tuple[str, ...] = ()
        self.posture = "stand"

    def set_posture(self, posture: str) -> None:
        if posture not in self.postures:
            raise ValueError(f"posture {posture!r} not available; this robot has "
                             f"{list(self.postures)}")
        self.posture = posture

    @property
    def posture_reached(self) -> bool:
        return True

    @property
    def walking(self) -> bool:
        return False

    def update(self, sensors: LeggedSensors, cmd_twist: np.ndarray, dt_s: float) -> LegCommand:
        raise NotImplementedError

    def _vector(self, values: dict[str, float], what: str) -> np.ndarray:
        missing = [n for n in self.joint_names if n not in values]
        if missing:
            raise ValueError(f"{what}: no value for {missing}")
        return np.array([values[n] for n in self.joint_names], dtype=float)

    def _gait_state(self, sensors: LeggedSensors) -> QuadrupedState:
        """The gaits' common input, joints in this gait's order."""
        return QuadrupedState(
            joint_positions_rad=self._vector(sensors.joint_positions_rad, "joint positions"),
            joint_velocities_rad_s=self._vector(sensors.joint_velocities_rad_s,
                                                "joint velocities"),
            base_quat_wxyz=sensors.base_quat_wxyz,
            base_linear_velocity_base_m_s=sensors.base_linear_velocity_base_m_s,
            base_angular_velocity_base_rad_s=sensors.base_angular_velocity_base_rad_s)


class TrotLocomotion(Locomotion):
    postures = ("stand", "sit")

    def __init__(self, profile: dict[str, Any]) -> None:
        self.gait = QuadrupedLocomotion(profile)
        self.joint_names = self.gait.joint_names
        self.posture = "stand"

    def set_posture(self, posture: str) -> None:
        super().set_posture(posture)
        self.gait.set_posture(posture)

    @property
    def posture_reached(self) -> bool:
        return self.gait.status.posture_reached

    @property
    def walking(self) -> bool:
        return self.gait.status.walking

    def update(self, sensors: LeggedSensors, cmd_twist: np.ndarray, dt_s: float) -> LegCommand:
        out = self.gait.update(self._gait_state(sensors), cmd_twist, dt_s)
        return LegCommand(tuple(out.names), out.positions_rad, out.velocities_rad_s)


class BipedLocomotion(Locomotion):
    postures = ("stand",)

    def __init__(self, profile: dict[str, Any]) -> None:
        self.walker = HumanoidWalking(profile)
        self.joint_names = self.walker.joint_names
        self.posture = "stand"

    @property
    def walking(self) -> bool:
        return self.walker.walking

    def update(self, sensors: LeggedSensors, cmd_twist: np.ndarray, dt_s: float) -> LegCommand:
        out = self.walker.update(self._gait_state(sensors), cmd_twist, dt_s)
        return LegCommand(tuple(out.names), out.positions_rad, out.velocities_rad_s)


LOCOMOTION_TYPES: dict[str, type[Locomotion]] = {"trot": TrotLocomotion, "biped": BipedLocomotion}


def make_locomotion(profile: dict[str, Any]) -> Locomotion:
    kind = profile.get("gait")
    if kind not in LOCOMOTION_TYPES:
        raise ValueError(f"profile `gait` must be one of {sorted(LOCOMOTION_TYPES)}, "
                         f"got {kind!r}")
    return LOCOMOTION_TYPES[kind](profile)
