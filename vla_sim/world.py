"""SimWorld: the MuJoCo world of one robot and one scene, with a small stepping API.

Set MUJOCO_GL=egl before importing mujoco to render headless.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import mujoco
import numpy as np

from vla_perception.camera_model import CameraModel
from vla_sim import goals
from vla_sim.build import (
    CAMERA_NAME,
    IMU_ACCEL,
    IMU_GYRO,
    build_spec,
    joint_groups,
    urdf_velocity_limits,
)
from vla_sim.scene import Scene, SceneObject

REPO_ROOT = Path(__file__).resolve().parents[1]


class SimWorld:
    """Robot + scene in MuJoCo. Joint order everywhere = the profile's joint groups in order
    (the arm: arm_joints + gripper_joints). Floating-base robots get a free joint at the base."""

    def __init__(self, profile: dict[str, Any], scene: Scene,
                 root: str | Path | None = None) -> None:
        """`root` resolves a relative profile `urdf` path (default: the repo root)."""
        self.profile = profile
        self.scene = scene
        self.camera = CameraModel.from_profile(profile["camera"])
        self.spec = build_spec(profile, scene, Path(root) if root else REPO_ROOT)
        self.model = self.spec.compile()
        self.data = mujoco.MjData(self.model)
        self.joint_groups = joint_groups(profile)
        self.joint_names: list[str] = [n for g in self.joint_groups.values() for n in g]
        m = self.model
        self._qadr = np.array([m.joint(n).qposadr[0] for n in self.joint_names])
        self._vadr = np.array([m.joint(n).dofadr[0] for n in self.joint_names])
        self._act = np.array([m.actuator(n).id for n in self.joint_names])
        self._lower = np.array([m.joint(n).range[0] for n in self.joint_names])
        self._upper = np.array([m.joint(n).range[1] for n in self.joint_names])
        urdf_velocity = urdf_velocity_limits(Path(root or REPO_ROOT) / profile["urdf"])
        self._max_velocity = np.array([urdf_velocity.get(n, np.inf) for n in self.joint_names])
        self._kv_over_kp = np.array(
            [-m.actuator_biasprm[a, 2] / m.actuator_gainprm[a, 0] for a in self._act])
        self._index = {n: i for i, n in enumerate(self.joint_names)}
        self._body_ids = {o.name: m.body(o.name).id for o in scene.objects}
        self._finger_bodies = tuple(int(m.jnt_bodyid[m.joint(n).id])
                                    for n in profile.get("gripper_joints", []))
        self._base_body = m.body(profile.get("base_frame", "base_link")).id
        self.floating_base = bool(profile.get("floating_base"))
        self._renderer: mujoco.Renderer | None = None
        self.reset()

    # ----- state -----
    def reset(self, joint_positions: Sequence[float] | None = None) -> None:
        """Scene objects at their start poses, robot at home (or the given pose), at rest."""
        mujoco.mj_resetData(self.model, self.data)  # a floating base: at base_height_m, level
        q = np.asarray(self.home_joint_positions() if joint_positions is None
                       else joint_positions, dtype=float)
        if q.shape != (len(self.joint_names),) or not np.all(np.isfinite(q)):
            raise ValueError(f"reset needs {len(self.joint_names)} finite joint positions")
        q = np.clip(q, self._lower, self._upper)
        self.data.qpos[self._qadr] = q
        self.data.ctrl[self._act] = q
        mujoco.mj_forward(self.model, self.data)
        self._initial_poses = {n: self.object_pose(n) for n in self.object_names}

    def home_joint_positions(self) -> list[float]:
        """The start pose in joint order: the profile's `default_joint_positions` (name -> rad),
        or the arm's `home_joint_positions` with the gripper open."""
        pose = self.profile.get("default_joint_positions")
        if pose is None:
            return list(self.profile["home_joint_positions"]) + [
                float(self.profile.get("gripper_open_m", 0.04))] * len(
                    self.profile["gripper_joints"])
        missing = [n for n in self.joint_names if n not in pose]
        unknown = sorted(set(pose) - set(self.joint_names))
        if missing or unknown:
            raise ValueError(f"default_joint_positions must name exactly the robot's joints; "
                             f"missing {missing}, unknown {unknown}")
        return [float(pose[n]) for n in self.joint_names]

    @property
    def time_s(self) -> float:
        return float(self.data.time)

    @property
    def physics_dt_s(self) -> float:
        return float(self.model.opt.timestep)

    @property
    def object_names(self) -> list[str]:
        return self.scene.object_names

    def step(self, n: int = 1) -> None:
        if not isinstance(n, (int, np.integer)) or n < 0:
            raise ValueError(f"step count must be a non-negative int, got {n!r}")
        if n:
            mujoco.mj_step(self.model, self.data, nstep=int(n))

    def set_joint_targets(self, names: Sequence[str], positions: Sequence[float],
                          velocities: Sequence[float] | None = None) -> None:
        """Position targets (clamped to the URDF limits) with optional velocity feed-forward."""
        names = list(names)
        q = np.asarray(positions, dtype=float)
        if q.shape != (len(names),):
            raise ValueError(f"{len(names)} names but positions of shape {q.shape}")
        v = np.zeros_like(q) if velocities is None else np.asarray(velocities, dtype=float)
        if v.shape != q.shape:
            raise ValueError(f"velocities shape {v.shape} != positions shape {q.shape}")
        if not (np.all(np.isfinite(q)) and np.all(np.isfinite(v))):
            raise ValueError("joint targets must be finite")
        unknown = [n for n in names if n not in self._index]
        if unknown or len(set(names)) != len(names):
            raise ValueError(f"unknown or repeated joint names {unknown or names}; "
                             f"known: {self.joint_names}")
        idx = np.array([self._index[n] for n in names], dtype=int)
        q = np.clip(q, self._lower[idx], self._upper[idx])
        # a burst of commands makes a wild velocity estimate: never feed more than the limit
        v = np.clip(v, -self._max_velocity[idx], self._max_velocity[idx])
        # position actuators damp the actual velocity: feed the desired one forward
        ctrl = q + self._kv_over_kp[idx] * v
        self.data.ctrl[self._act[idx]] = np.clip(ctrl, self._lower[idx], self._upper[idx])

    def joint_positions(self) -> np.ndarray:
        return self.data.qpos[self._qadr].copy()

    def joint_velocities(self) -> np.ndarray:
        return self.data.qvel[self._vadr].copy()

    def joint_efforts(self) -> np.ndarray:
        """Actuator force (N m or N) per joint."""
        return self.data.actuator_force[self._act].copy()

    def object_pose(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """(centre xyz in base/world, quaternion wxyz)."""
        body = self._body(name)
        return self.data.xpos[body].copy(), self.data.xquat[body].copy()

    def object_speed_m_s(self, name: str) -> float:
        # a free joint's first three velocities are the body origin's, in the world frame
        vadr = self.model.jnt_dofadr[self.model.body_jntadr[self._body(name)]]
        return float(np.linalg.norm(self.data.qvel[vadr:vadr + 3]))

    def set_object_pose(self, name: str, xyz: Sequence[float],
                        quat_wxyz: Sequence[float] = (1.0, 0.0, 0.0, 0.0)) -> None:
        """Teleport an object (and stop it). For tests and scripted resets only."""
        body = self._body(name)
        pos, quat = np.asarray(xyz, dtype=float), np.asarray(quat_wxyz, dtype=float)
        if pos.shape != (3,) or quat.shape != (4,) or not np.all(np.isfinite(pos)) or not (
                np.all(np.isfinite(quat)) and np.linalg.norm(quat) > 1e-9):
            raise ValueError("object pose needs finite xyz (3) and a non-zero quaternion (4)")
        jnt = self.model.body_jntadr[body]
        qadr, vadr = self.model.jnt_qposadr[jnt], self.model.jnt_dofadr[jnt]
        self.data.qpos[qadr:qadr + 3] = pos
        self.data.qpos[qadr + 3:qadr + 7] = quat / np.linalg.norm(quat)
        self.data.qvel[vadr:vadr + 6] = 0.0
        mujoco.mj_forward(self.model, self.data)

    def scene_object(self, name: str) -> SceneObject:
        return self.scene.get(name)

    def initial_object_pose(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        self._body(name)
        pos, quat = self._initial_poses[name]
        return pos.copy(), quat.copy()

    def touches_both_fingers(self, name: str) -> bool:
        body = self._body(name)
        touched: set[int] = set()
        for c in self.data.contact[:self.data.ncon]:
            b1, b2 = self.model.geom_bodyid[c.geom[0]], self.model.geom_bodyid[c.geom[1]]
            if body in (b1, b2):
                touched.add(b2 if b1 == body else b1)
        return bool(self._finger_bodies) and all(f in touched for f in self._finger_bodies)

    def robot_base_pose(self) -> tuple[np.ndarray, np.ndarray]:
        """(base origin xyz in the world, quaternion wxyz)."""
        return self.data.xpos[self._base_body].copy(), self.data.xquat[self._base_body].copy()

    def robot_base_velocity(self) -> tuple[np.ndarray, np.ndarray]:
        """(linear m/s, angular rad/s) of the base origin, both in world axes."""
        vel = np.zeros(6)  # [angular, linear]
        mujoco.mj_objectVelocity(self.model, self.data, mujoco.mjtObj.mjOBJ_BODY,
                                 self._base_body, vel, 0)
        return vel[3:].copy(), vel[:3].copy()

    def imu(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """A floating base's IMU at the base origin: (orientation wxyz in the world,
        angular velocity rad/s and specific force m/s^2 (+9.81 up at rest), both in base axes)."""
        if not self.floating_base:
            raise ValueError("only a floating-base robot carries the IMU")
        gyro = self.data.sensor(IMU_GYRO).data.copy()
        accel = self.data.sensor(IMU_ACCEL).data.copy()
        return self.data.xquat[self._base_body].copy(), gyro, accel

    def set_robot_base_pose(self, xyz: Sequence[float],
                            quat_wxyz: Sequence[float] = (1.0, 0.0, 0.0, 0.0)) -> None:
        """Teleport a floating base (and stop it). For tests and scripted resets only."""
        if not self.floating_base:
            raise ValueError("only a floating-base robot can be moved")
        pos, quat = np.asarray(xyz, dtype=float), np.asarray(quat_wxyz, dtype=float)
        if pos.shape != (3,) or quat.shape != (4,) or not np.all(np.isfinite(pos)) or not (
                np.all(np.isfinite(quat)) and np.linalg.norm(quat) > 1e-9):
            raise ValueError("base pose needs finite xyz (3) and a non-zero quaternion (4)")
        jnt = self.model.body_jntadr[self._base_body]
        qadr, vadr = self.model.jnt_qposadr[jnt], self.model.jnt_dofadr[jnt]
        self.data.qpos[qadr:qadr + 3] = pos
        self.data.qpos[qadr + 3:qadr + 7] = quat / np.linalg.norm(quat)
        self.data.qvel[vadr:vadr + 6] = 0.0
        mujoco.mj_forward(self.model, self.data)

    def set_base_wrench(self, force_world_n: Sequence[float],
                        torque_world_nm: Sequence[float] = (0.0, 0.0, 0.0)) -> None:
        """An external force/torque on the base (at its centre of mass) until changed; e.g. a
        push for a balance test. Zero it to end the push."""
        wrench = np.concatenate([np.asarray(force_world_n, float),
                                 np.asarray(torque_world_nm, float)])
        if wrench.shape != (6,) or not np.all(np.isfinite(wrench)):
            raise ValueError("base wrench needs a finite force (3) and torque (3)")
        self.data.xfrc_applied[self._base_body] = wrench

    def landmark_position(self, name: str) -> np.ndarray:
        for mark in self.scene.landmarks:
            if mark.name == name:
                return np.array([*mark.position_m, 0.0])
        raise ValueError(f"unknown landmark {name!r}")

    def check_goal(self, text: str) -> tuple[bool, str]:
        """Judge DESIGN.md goal predicates against ground truth -> (holds, detail)."""
        return goals.evaluate(goals.parse_goal(text), self)

    def _body(self, name: str) -> int:
        try:
            return self._body_ids[name]
        except KeyError:
            raise ValueError(f"unknown object {name!r}; known: {self.object_names}") from None

    # ----- camera -----
    def render_rgbd(self) -> tuple[np.ndarray, np.ndarray]:
        """(rgb uint8 HxWx3, depth_m float32 HxW: z-depth along the optical axis, inf = nothing).

        The EGL context is bound to the thread that first renders: render from one thread.
        """
        if self._renderer is None:  # lazily: an EGL context costs time and memory
            self._renderer = mujoco.Renderer(self.model, self.camera.height, self.camera.width)
        r = self._renderer
        r.update_scene(self.data, camera=CAMERA_NAME)
        r.disable_depth_rendering()
        rgb = r.render().copy()
        r.enable_depth_rendering()
        depth = r.render().astype(np.float32)
        r.disable_depth_rendering()
        far_m = self.model.vis.map.zfar * self.model.stat.extent
        depth[depth >= 0.999 * far_m] = math.inf
        return rgb, depth

    def close(self) -> None:
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None

    def __enter__(self) -> SimWorld:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
