"""One source of truth: the launch file and `vla demo` build from the same node specs, every
executable they name exists, and every parameter in the stack file is one its node declares."""

import ast
import configparser
import re
from pathlib import Path

import pytest
import yaml

from vla_bringup.profile import ROBOTS, load_profile, package_root, resolve_path
from vla_bringup.ros_env import isolate_ros_env
from vla_bringup.specs import EXECUTABLES, params_file_content, stack_specs

ROOT = Path(__file__).resolve().parents[1]
ALL_SPECS = [spec for robot in ROBOTS for spec in stack_specs(robot)]


def spec_id(spec) -> str:
    return f"{spec.parameters.get('robot_profile', '').split('/')[-1][:-5]}-{spec.name}"


def module_file(module: str) -> Path:
    return (ROOT / Path(*module.split("."))).with_suffix(".py")


def console_scripts() -> dict[str, str]:
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    lines = cfg["options.entry_points"]["console_scripts"].strip().splitlines()
    return dict(tuple(part.strip() for part in line.split("=")) for line in lines)


def declared_parameters(module: str) -> set[str]:
    """Parameter names a node module declares (read from its source, without starting ROS)."""
    source = module_file(module).read_text()
    return set(re.findall(r'declare_parameter\(\s*"([a-z_]+)"', source))


@pytest.mark.parametrize("spec", ALL_SPECS, ids=spec_id)
def test_every_spec_names_an_installed_executable_with_a_main(spec):
    assert console_scripts().get(spec.executable) == f"{spec.module}:main", spec.name
    tree = ast.parse(module_file(spec.module).read_text())
    assert any(isinstance(n, ast.FunctionDef) and n.name == "main" for n in tree.body)


@pytest.mark.parametrize("spec", ALL_SPECS, ids=spec_id)
def test_stack_parameters_are_declared_by_their_node(spec):
    declared = declared_parameters(spec.module) | {"use_sim_time"}
    assert set(spec.parameters) <= declared, set(spec.parameters) - declared


def test_stack_paths_resolve_and_params_file_round_trips():
    for robot in ROBOTS:
        for spec in stack_specs(robot):
            for key in ("robot_profile", "scene"):
                if spec.parameters.get(key):
                    assert resolve_path(spec.parameters[key]).is_file(), (spec.name, key)
                    with open(resolve_path(spec.parameters[key])) as f:
                        named = yaml.safe_load(f)
                    assert named.get("name", named.get("robot")) == robot, (spec.name, key)
    specs = stack_specs("arm", {"mujoco_sim": {"real_time_factor": 0.0}})
    content = yaml.safe_load(yaml.safe_dump(params_file_content(specs)))
    assert content["mujoco_sim"]["ros__parameters"]["real_time_factor"] == 0.0
    assert set(content) == set(EXECUTABLES) - {"legged_skills"}
    with pytest.raises(ValueError, match="not in the arm stack"):
        stack_specs("arm", {"no_such_node": {}})


def test_profile_paths_are_absolute_and_exist():
    profile = load_profile("arm")
    assert Path(profile["urdf"]).is_absolute() and Path(profile["urdf"]).is_file()
    assert Path(profile["default_scene"]).is_file()
    assert package_root() == ROOT
    with pytest.raises(ValueError, match="unknown robot"):
        load_profile("submarine")


def test_ros_env_defaults_stay_on_localhost_and_keep_user_choices():
    env = isolate_ros_env({})
    assert env["ROS_AUTOMATIC_DISCOVERY_RANGE"] == "LOCALHOST"
    assert 10 <= int(env["ROS_DOMAIN_ID"]) <= 89 and Path(env["ROS_HOME"]).is_dir()
    assert env["HF_HUB_OFFLINE"] == "1"
    user = isolate_ros_env({"ROS_AUTOMATIC_DISCOVERY_RANGE": "SUBNET", "ROS_DOMAIN_ID": "3"})
    assert user["ROS_AUTOMATIC_DISCOVERY_RANGE"] == "SUBNET" and user["ROS_DOMAIN_ID"] == "3"
