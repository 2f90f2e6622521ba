"""The planner's view of /skills/registry: who offers which skill (pure; entries are data)."""

from dataclasses import dataclass


@dataclass(frozen=True)
class RegisteredSkill:
    name: str
    text_template: str
    arg_names: tuple[str, ...]
    arg_kinds: tuple[str, ...]
    provider: str
    action_name: str
    affordance_service: str
    stamp_ns: int


class SkillRegistry:
    """Newest announcement per skill name wins; a withdrawal only counts from the provider
    that currently offers the skill (a stale provider's goodbye must not remove its successor)."""

    def __init__(self) -> None:
        self._skills: dict[str, RegisteredSkill] = {}

    def update(self, entry: RegisteredSkill, available: bool) -> bool:
        """Apply one registry message; True if the set of providers changed."""
        current = self._skills.get(entry.name)
        if not available:
            if current is not None and current.provider == entry.provider:
                del self._skills[entry.name]
                return True
            return False
        if current is not None and current.stamp_ns > entry.stamp_ns \
                and current.provider != entry.provider:
            return False  # an older announcement arriving late
        self._skills[entry.name] = entry
        return current != entry

    def get(self, name: str) -> RegisteredSkill | None:
        return self._skills.get(name)

    def skills(self) -> list[RegisteredSkill]:
        return sorted(self._skills.values(), key=lambda s: s.name)
