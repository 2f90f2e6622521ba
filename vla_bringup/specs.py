"""Node specs: one description of each robot's stack, shared by the launch files and `vla demo`.

The parameters come from config/stacks/<robot>.yaml (ROS 2 params-file format); this module only
adds which executable runs each node. Launch files and the CLI both build from `stack_specs`, so
node names, parameters and remappings cannot drift apart.
"""

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from vla_bringup.profile import ROBOTS, resolve_path

# node name -> (console script in lib/vla_stack, Python module with main())
EXECUTABLES: dict[str, tuple[str, str]] = {
    "mujoco_sim": ("mujoco_sim", "vla_sim.node"),
    "wbc_controller": ("wbc_controller", "vla_controller.node"),
    "perception": ("perception", "vla_perception.node"),
    "arm_skills": ("skill_server", "vla_skills.node"),
    "planner": ("planner", "vla_planner.node"),
}


@dataclass
class NodeSpec:
    name: str
    executable: str
    module: str
    parameters: dict[str, Any] = field(default_factory=dict)
    remappings: list[tuple[str, str]] = field(default_factory=list)

    @property
    def is_sim(self) -> bool:
        return self.name == "mujoco_sim"


def stack_file(robot: str) -> Path:
    if robot not in ROBOTS:
        raise ValueError(f"unknown robot {robot!r}; choose one of {', '.join(ROBOTS)}")
    return resolve_path(f"config/stacks/{robot}.yaml")


def stack_specs(robot: str, overrides: dict[str, dict[str, Any]] | None = None) -> list[NodeSpec]:
    """The nodes of a robot's stack with their parameters; `overrides` maps node -> params."""
    path = stack_file(robot)
    if not path.is_file():
        raise ValueError(f"robot {robot!r} has no stack yet ({path})")
    with open(path) as f:
        stack = yaml.safe_load(f)
    overrides = overrides or {}
    unknown = set(overrides) - set(stack)
    if unknown:
        raise ValueError(f"overrides for nodes not in the {robot} stack: {sorted(unknown)}")
    specs = []
    for name, body in stack.items():
        if name not in EXECUTABLES:
            raise ValueError(f"{path}: node {name!r} has no executable in vla_bringup.specs")
        executable, module = EXECUTABLES[name]
        params = dict((body or {}).get("ros__parameters", {}))
        params.update(overrides.get(name, {}))
        specs.append(NodeSpec(name, executable, module, params))
    return specs


def params_file_content(specs: list[NodeSpec]) -> dict[str, Any]:
    """The specs as a ROS 2 params file (what `--params-file` takes)."""
    return {spec.name: {"ros__parameters": spec.parameters} for spec in specs}
