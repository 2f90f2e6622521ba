"""The arm URDF: loads in pinocchio and MuJoCo alike, is physical, and reaches the workspace."""

import os

os.environ.setdefault("MUJOCO_GL", "egl")

from pathlib import Path  # noqa: E402

import mujoco  # noqa: E402
import numpy as np  # noqa: E402
import pinocchio as pin  # noqa: E402
import pytest  # noqa: E402
import yaml  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
URDF = ROOT / "urdf" / "arm.urdf"
PROFILE = yaml.safe_load((ROOT / "config" / "robots" / "arm.yaml").read_text())
JOINTS = PROFILE["arm_joints"] + PROFILE["gripper_joints"]


@pytest.fixture(scope="module")
def pin_model() -> pin.Model:
    return pin.buildModelFromUrdf(str(URDF))


@pytest.fixture(scope="module")
def mj_model() -> mujoco.MjModel:
    return mujoco.MjSpec.from_file(str(URDF)).compile()


def tool_down_ik(model: pin.Model, target_xyz: np.ndarray, yaw_rad: float,
                 q_seed: np.ndarray) -> np.ndarray | None:
    """Damped CLIK to tool0 at target_xyz with z_tool = -z_world; None if it does not converge."""
    data = model.createData()
    fid = model.getFrameId("tool0")
    rot = pin.utils.rpyToMatrix(0, 0, yaw_rad) @ pin.utils.rpyToMatrix(np.pi, 0, 0)
    target = pin.SE3(rot, np.asarray(target_xyz, float))
    q = q_seed.copy()
    for _ in range(300):
        pin.framesForwardKinematics(model, data, q)
        err = pin.log6(data.oMf[fid].actInv(target)).vector
        if np.linalg.norm(err) < 1e-5:
            return q
        jac = pin.computeFrameJacobian(model, data, q, fid, pin.LOCAL)[:, :7]
        dq = jac.T @ np.linalg.solve(jac @ jac.T + 1e-6 * np.eye(6), err)
        q[:7] = np.clip(q[:7] + dq, model.lowerPositionLimit[:7], model.upperPositionLimit[:7])
    return None


def _ancestor(model: mujoco.MjModel, body: int, ancestor: int) -> bool:
    """True if `ancestor` is reached from `body` through joint-less bodies only."""
    while body != 0 and model.body_jntnum[body] == 0:
        body = model.body_parentid[body]
        if body == ancestor:
            return True
    return False


def test_same_joints_limits_masses_in_pinocchio_and_mujoco(pin_model, mj_model):
    pin_joints = [pin_model.names[i] for i in range(1, pin_model.njoints)]
    assert pin_joints == JOINTS
    for i, name in enumerate(JOINTS):
        jid = mj_model.joint(name).id
        assert mj_model.jnt_range[jid] == pytest.approx(
            [pin_model.lowerPositionLimit[i], pin_model.upperPositionLimit[i]])
        assert pin_model.velocityLimit[i] > 0 and pin_model.effortLimit[i] > 0
    # pinocchio merges fixed children into the joint's body: compare the same sums in MuJoCo
    for i, name in enumerate(JOINTS, start=1):
        body = mj_model.jnt_bodyid[mj_model.joint(name).id]
        rigid = [body] + [b for b in range(mj_model.nbody)
                          if mj_model.body_jntnum[b] == 0 and _ancestor(mj_model, b, body)]
        mj_mass = sum(mj_model.body_mass[b] for b in rigid)
        assert mj_mass == pytest.approx(pin_model.inertias[i].mass)
    total_pin = sum(pin_model.inertias[i].mass for i in range(1, pin_model.njoints))
    assert 10.0 < total_pin < 30.0
    assert sum(mj_model.body_mass[2:]) == pytest.approx(total_pin)  # minus world and base
    for name in ("tool0", "base_link"):
        assert pin_model.existFrame(name)
        assert mujoco.mj_name2id(mj_model, mujoco.mjtObj.mjOBJ_BODY, name) >= 0
    # the gripper: two prismatic joints, 0 = closed, 0.04 m = open
    for name in PROFILE["gripper_joints"]:
        assert mj_model.jnt_type[mj_model.joint(name).id] == mujoco.mjtJoint.mjJNT_SLIDE
        assert mj_model.jnt_range[mj_model.joint(name).id] == pytest.approx([0.0, 0.04])


def test_inertias_are_physical(pin_model):
    for inertia in pin_model.inertias[1:]:
        eig = np.linalg.eigvalsh(inertia.inertia)
        assert inertia.mass > 0
        assert eig.min() > 0
        assert eig[0] + eig[1] >= eig[2] * (1 - 1e-9)


def test_home_pose_points_tool_down_and_fingers_meet_at_tool0(pin_model, mj_model):
    home = np.array(PROFILE["home_joint_positions"])
    assert np.all(home >= pin_model.lowerPositionLimit[:7])
    assert np.all(home <= pin_model.upperPositionLimit[:7])
    data = pin_model.createData()
    pin.framesForwardKinematics(pin_model, data, np.concatenate([home, [0.04, 0.04]]))
    tool = data.oMf[pin_model.getFrameId("tool0")]
    assert tool.rotation[:, 2] @ [0, 0, -1] > 0.99
    assert tool.translation[2] > 0.3  # above the objects
    # MuJoCo: pad inner faces meet at tool0 when closed and are 8 cm apart when open
    mj_data = mujoco.MjData(mj_model)
    for opening, gap in ((0.0, 0.0), (0.04, 0.08)):
        for name in PROFILE["gripper_joints"]:
            mj_data.qpos[mj_model.joint(name).qposadr[0]] = opening
        mujoco.mj_forward(mj_model, mj_data)
        tool_id = mj_model.body("tool0").id
        rot_t, pos_t = mj_data.xmat[tool_id].reshape(3, 3), mj_data.xpos[tool_id]
        inner = []
        for side in ("left", "right"):
            pad = mj_model.geom(f"gripper_{side}_pad").id
            centre_tool = rot_t.T @ (mj_data.geom_xpos[pad] - pos_t)
            half_x = mj_model.geom_size[pad][0]
            inner.append(centre_tool[0] + (half_x if side == "left" else -half_x))
            assert abs(centre_tool[2]) < 1e-6  # tool0 at the pads' centre height
        assert inner[1] - inner[0] == pytest.approx(gap, abs=1e-6)


@pytest.mark.parametrize("z_m", [0.02, 0.15])
def test_workspace_reachable_with_tool_down(pin_model, z_m):
    home = np.concatenate([PROFILE["home_joint_positions"], [0.04, 0.04]])
    failures = []
    for x in (0.30, 0.475, 0.65):
        for y in (-0.30, 0.0, 0.30):
            for yaw in (0.0, np.pi / 4, np.pi / 2):
                # the gripper is symmetric: a grasp at yaw or yaw - pi is the same grasp
                if all(tool_down_ik(pin_model, np.array([x, y, z_m]), a, home) is None
                       for a in (yaw, yaw - np.pi)):
                    failures.append((x, y, z_m, yaw))
    assert not failures


def test_urdf_matches_its_generator(tmp_path):
    """urdf/arm.urdf is generated (inertias computed): a hand edit would drift from the source."""
    import subprocess
    import sys

    out = tmp_path / "arm.urdf"
    subprocess.run([sys.executable, str(ROOT / "scripts" / "gen_arm_urdf.py"), str(out)],
                   check=True, timeout=60)
    assert out.read_text() == URDF.read_text()
