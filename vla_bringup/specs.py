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
    "legged_skills": ("skill_server", "vla_skills.node"),   # same server, legged profile
    "planner": ("planner", "vla_planner.node"),
}
SKILL_NODES = ("arm_skills", "legged_skills")   # the skill server of each robot's stack


@dataclass
class NodeSpec:
    name: str
    executable: str
    module: str
    parameters: dict[str, Any] = field(default_factory=dict)
    remappings: list[tuple[str, str]] = field(default_factory=list)
    namespace: str = ""   # without slashes at the ends; "" = the root namespace

    @property
    def fully_qualified_name(self) -> str:
        return f"/{self.namespace}/{self.name}" if self.namespace else f"/{self.name}"

    @property
    def is_sim(self) -> bool:
        return self.name == "mujoco_sim"

    @property
    def is_skill_server(self) -> bool:
        return self.module in {EXECUTABLES[n][1] for n in SKILL_NODES}


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
    # rcl matches the keys against fully qualified node names ("name" stands for "/name")
    return {(spec.fully_qualified_name if spec.namespace else spec.name):
            {"ros__parameters": spec.parameters} for spec in specs}


def skill_server_specs(specs: list[NodeSpec], skills: Any) -> list[NodeSpec]:
    """Apply a `skills:=` choice to a stack: a list of skill names (YAML list or "a,b") for the
    stack's own skill server, or a mapping (inline YAML or a .yaml file) of skill-server node
    name -> {executable?, ros__parameters} that replaces it, e.g. a second provider of `pick`:

        learned_skills: {ros__parameters: {skills: [pick], interface_namespace: /skills/learned}}
    """
    if isinstance(skills, str):
        text = skills.strip()
        if not text:
            return specs
        if text.endswith((".yaml", ".yml")):
            path = resolve_path(text)
            if not path.is_file():
                raise ValueError(f"skills file {path} does not exist")
            text = path.read_text()
        elif "," in text and not text.startswith(("[", "{")):
            text = "[" + text + "]"
        skills = yaml.safe_load(text)
    if isinstance(skills, str):
        skills = [skills]
    own = [s for s in specs if s.is_skill_server]
    if not own:
        raise ValueError("this stack has no skill server to configure")
    if isinstance(skills, list):
        if not skills or not all(isinstance(n, str) and n for n in skills):
            raise ValueError(f"skills must be a non-empty list of names, got {skills!r}")
        return [NodeSpec(s.name, s.executable, s.module, {**s.parameters, "skills": skills},
                         s.remappings) if s is own[0] else s for s in specs]
    if not isinstance(skills, dict) or not skills:
        raise ValueError(f"skills must be a list of names or a mapping of skill-server nodes, "
                         f"got {skills!r}")
    servers = []
    for name, body in skills.items():
        body = body or {}
        if not isinstance(body, dict) or set(body) - {"executable", "ros__parameters"}:
            raise ValueError(f"skill server {name!r}: expected executable and/or "
                             f"ros__parameters, got {body!r}")
        executable = body.get("executable", own[0].executable)
        modules = {exe: module for exe, module in EXECUTABLES.values()}
        if executable not in modules or modules[executable] not in {
                EXECUTABLES[n][1] for n in SKILL_NODES}:
            raise ValueError(f"skill server {name!r}: {executable!r} is not a skill server "
                             f"executable")
        params = dict(own[0].parameters)   # profile etc.; the body overrides
        params.update(body.get("ros__parameters") or {})
        servers.append(NodeSpec(str(name), executable, modules[executable], params))
    index = specs.index(own[0])
    return [s for s in specs[:index] if not s.is_skill_server] + servers + [
        s for s in specs[index:] if not s.is_skill_server]
