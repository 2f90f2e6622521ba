"""Robot profiles (config/robots/<name>.yaml) and the package's data files."""

from functools import cache
from pathlib import Path
from typing import Any

import yaml

ROBOTS = ("arm", "quadruped", "humanoid")
ODOM_FRAME = "odom"  # a floating base's world frame (REP 105): /odom, perceived objects


@cache
def package_root() -> Path:
    """The directory holding config/, urdf/, launch/: the source tree in a development
    install, else the ament share directory of `vla_stack`."""
    source_root = Path(__file__).resolve().parents[1]
    if (source_root / "package.xml").is_file() and (source_root / "config").is_dir():
        return source_root
    try:
        from ament_index_python.packages import get_package_share_directory
    except ImportError as exc:  # pragma: no cover - only without any ROS install
        raise RuntimeError("cannot locate the vla_stack package data") from exc
    return Path(get_package_share_directory("vla_stack"))


def resolve_path(path: str | Path) -> Path:
    """An absolute path as is; a relative one against the package root."""
    path = Path(path)
    return path if path.is_absolute() else package_root() / path


def profile_path(robot: str) -> Path:
    if robot not in ROBOTS:
        raise ValueError(f"unknown robot {robot!r}; choose one of {', '.join(ROBOTS)}")
    path = resolve_path(f"config/robots/{robot}.yaml")
    if not path.is_file():
        raise ValueError(f"robot {robot!r} has no profile yet ({path})")
    return path


def load_profile(robot_or_path: str | Path) -> dict[str, Any]:
    """Load a robot profile by robot name or file path; paths inside it become absolute."""
    path = Path(robot_or_path)
    if not path.suffix:
        path = profile_path(str(robot_or_path))
    with open(path) as f:
        profile = yaml.safe_load(f)
    if not isinstance(profile, dict) or "name" not in profile or "urdf" not in profile:
        raise ValueError(f"{path}: not a robot profile (needs at least name and urdf)")
    profile["urdf"] = str(resolve_path(profile["urdf"]))
    if "default_scene" in profile:
        profile["default_scene"] = str(resolve_path(profile["default_scene"]))
    profile["profile_path"] = str(path.resolve())
    return profile


def joint_groups(profile: dict[str, Any]) -> dict[str, list[str]]:
    """Actuated joint groups in command order: the profile's `joint_groups`, or for profiles
    without one (the arm) its `arm_joints` then `gripper_joints`."""
    raw = profile.get("joint_groups")
    if raw is None:
        return {"arm": list(profile["arm_joints"]), "gripper": list(profile["gripper_joints"])}
    if not isinstance(raw, dict) or not raw or not all(
            isinstance(v, list) and v and all(isinstance(n, str) for n in v)
            for v in raw.values()):
        raise ValueError("profile joint_groups must map group names to non-empty joint lists")
    groups = {str(k): list(v) for k, v in raw.items()}
    names = [n for v in groups.values() for n in v]
    if len(set(names)) != len(names):
        raise ValueError(f"a joint appears in more than one joint group: {names}")
    return groups
