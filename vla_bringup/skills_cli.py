"""`vla skills list|describe [NAME]`: what is on /skills/registry and who provides it.

Listens to the registry topic (transient-local: every live provider's entries arrive on
subscription) for a few seconds, applies the planner's rules (vla_planner.registry: newest offer
wins) and leaves out providers that are no longer in the ROS graph.
"""

import argparse
import time

from vla_planner.registry import RegisteredSkill, SkillRegistry


def registered_skill(msg) -> RegisteredSkill:
    """A SkillDescription message as the planner's registry entry."""
    return RegisteredSkill(msg.name, msg.text_template, tuple(msg.arg_names),
                           tuple(msg.arg_kinds), msg.provider, msg.action_name,
                           msg.affordance_service, msg.stamp.sec * 10**9 + msg.stamp.nanosec)


def format_list(registry: SkillRegistry) -> str:
    skills = registry.skills()
    if not skills:
        return "no skills registered"
    rows = [("SKILL", "PROVIDER", "ARGS", "TEMPLATE", "OTHER PROVIDERS")]
    for skill in skills:
        others = [o.provider for o in registry.offers(skill.name)[1:]]
        args = ", ".join(f"{n}:{k}" for n, k in zip(skill.arg_names, skill.arg_kinds,
                                                     strict=True))
        rows.append((skill.name, skill.provider, args, skill.text_template,
                     ", ".join(others) or "-"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False))
                     + "  " + row[-1] for row in rows)


def format_describe(registry: SkillRegistry, name: str,
                    descriptions: dict[tuple[str, str], str]) -> str:
    """Every offer of `name`, the one in use first; `descriptions` maps (name, provider) to
    the provider's free-text description."""
    offers = registry.offers(name)
    if not offers:
        known = ", ".join(s.name for s in registry.skills()) or "none"
        raise KeyError(f"no provider offers skill {name!r} (registered: {known})")
    lines = [f"skill {name}"]
    for index, offer in enumerate(offers):
        role = "in use" if index == 0 else "standby (used if the newer provider leaves)"
        lines += [f"  provider {offer.provider} [{role}]",
                  f"    description: {descriptions.get((name, offer.provider), '')}",
                  f"    template:    {offer.text_template}",
                  "    arguments:   " + (", ".join(
                      f"{n} ({k})" for n, k in zip(offer.arg_names, offer.arg_kinds,
                                                   strict=True)) or "none"),
                  f"    action:      {offer.action_name}",
                  f"    affordance:  {offer.affordance_service}"]
    return "\n".join(lines)


def collect(wait_s: float, namespace: str = "") -> tuple[SkillRegistry,
                                                        dict[tuple[str, str], str]]:
    """Listen to [/namespace]/skills/registry for wait_s seconds (rclpy; discovery takes
    0.3-3 s)."""
    import rclpy

    from vla_bringup.qos import REGISTRY_QOS
    from vla_bringup.ros_env import isolate_ros_env
    from vla_stack.msg import SkillDescription

    isolate_ros_env()
    registry, descriptions = SkillRegistry(), {}
    rclpy.init()
    try:
        node = rclpy.create_node("vla_skills_cli")

        def on_entry(msg: SkillDescription) -> None:
            if not msg.name or len(msg.arg_names) != len(msg.arg_kinds):
                return
            registry.update(registered_skill(msg), msg.available)
            descriptions[(msg.name, msg.provider)] = msg.description

        topic = f"/{namespace.strip('/')}/skills/registry" if namespace.strip("/") \
            else "/skills/registry"
        node.create_subscription(SkillDescription, topic, on_entry, REGISTRY_QOS)
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            rclpy.spin_once(node, timeout_sec=0.1)
        graph = {f"{ns.rstrip('/')}/{n}" for n, ns in node.get_node_names_and_namespaces()}
        for provider in registry.providers() - graph:
            registry.remove_provider(provider)   # its entry outlived it in a DDS cache
        node.destroy_node()
    finally:
        rclpy.try_shutdown()
    return registry, descriptions


def add_parser(sub: argparse._SubParsersAction) -> None:
    skills = sub.add_parser("skills", help="list the skills on /skills/registry and providers")
    skills.add_argument("action", choices=("list", "describe"))
    skills.add_argument("name", nargs="?", help="skill name (describe)")
    skills.add_argument("--wait", type=float, default=3.0,
                        help="seconds to listen for registry entries (discovery)")
    skills.add_argument("--namespace", default="",
                        help="the stack's namespace (launch argument namespace:=...)")


def run_skills(args: argparse.Namespace) -> int:
    if args.action == "describe" and not args.name:
        print("vla skills describe: give a skill NAME (see `vla skills list`)")
        return 2
    registry, descriptions = collect(max(0.5, args.wait), args.namespace)
    if args.action == "list":
        print(format_list(registry))
        return 0
    try:
        print(format_describe(registry, args.name, descriptions))
    except KeyError as exc:
        print(exc.args[0])
        return 1
    return 0
