"""The package builds with a plain `colcon build` of a workspace that contains the repo, against
the Kilted wheels, and the installed result works: generated interfaces and node executables."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
VENV = Path(sys.prefix)


@pytest.fixture(scope="module")
def colcon_install(tmp_path_factory):
    colcon = VENV / "bin" / "colcon"
    if not colcon.exists():
        pytest.fail("colcon is not installed in the venv (requirements.txt pins it)")
    workspace = tmp_path_factory.mktemp("ws")
    (workspace / "src").mkdir()
    # a workspace that contains the repo (as a user's checkout would); build artefacts excluded
    shutil.copytree(REPO, workspace / "src" / "vla_stack", ignore=shutil.ignore_patterns(
        ".venv", "build", "install", "log", ".git", "__pycache__", ".setup-stamps", "*.egg-info"))
    env = dict(os.environ, AMENT_PREFIX_PATH=str(VENV), CMAKE_PREFIX_PATH=str(VENV),
               PATH=f"{VENV / 'bin'}:{os.environ['PATH']}")
    run = subprocess.run(
        [str(colcon), "build", "--cmake-args", f"-DPython3_EXECUTABLE={VENV / 'bin' / 'python'}",
         "-DBUILD_TESTING=OFF"],
        cwd=workspace, env=env, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    return workspace / "install" / "vla_stack"


def test_colcon_install_has_interfaces_nodes_and_data(colcon_install):
    site = next(colcon_install.glob("lib/python3*/site-packages"))
    assert (site / "vla_stack" / "msg" / "_scene_objects.py").is_file()
    for pkg in ("vla_bringup", "vla_sim", "vla_controller", "vla_skills"):
        assert (site / pkg / "__init__.py").is_file(), pkg
    for exe in ("mujoco_sim", "wbc_controller", "skill_server", "planner", "perception", "vla"):
        assert os.access(colcon_install / "lib" / "vla_stack" / exe, os.X_OK), exe
    share = colcon_install / "share" / "vla_stack"
    for data in ("package.xml", "urdf/arm.urdf", "config/robots/arm.yaml",
                 "launch/arm.launch.py"):
        assert (share / data).is_file(), data


def test_colcon_installed_interfaces_import_from_install_space(colcon_install):
    site = next(colcon_install.glob("lib/python3*/site-packages"))
    code = ("import vla_stack.msg as m, vla_bringup.profile as p; "
            "print(m.__file__); print(p.package_root())")
    env = dict(os.environ, PYTHONPATH=str(site),
               AMENT_PREFIX_PATH=f"{colcon_install}:{VENV}",
               LD_LIBRARY_PATH=f"{colcon_install / 'lib'}:{os.environ.get('LD_LIBRARY_PATH', '')}")
    out = subprocess.run([sys.executable, "-c", code], cwd="/", env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    msg_file, root = out.stdout.split()
    assert msg_file.startswith(str(colcon_install)), msg_file
    assert root == str(colcon_install / "share" / "vla_stack")
