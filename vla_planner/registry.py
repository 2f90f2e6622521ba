"""The planner's view of /skills/registry: who offers which skill (pure; entries are data).

Every live provider's offer is kept, so the newest provider of a name is the one used and, when it
goes away, an older provider that is still running takes over again (a learned `pick` swapped in
and out over a scripted one)."""

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
    """Newest announcement per skill name wins; a withdrawal (or a vanished provider) only
    removes that provider's offer, so a stale provider's goodbye never removes its successor."""

    def __init__(self) -> None:
        self._offers: dict[str, dict[str, RegisteredSkill]] = {}   # name -> provider -> entry

    def _current(self) -> dict[str, RegisteredSkill]:
        return {name: max(offers.values(), key=lambda e: (e.stamp_ns, e.provider))
                for name, offers in self._offers.items() if offers}

    def update(self, entry: RegisteredSkill, available: bool) -> bool:
        """Apply one registry message; True if the provider used for some skill changed."""
        before = self._current()
        offers = self._offers.setdefault(entry.name, {})
        if available:
            known = offers.get(entry.provider)
            if known is None or known.stamp_ns <= entry.stamp_ns:
                offers[entry.provider] = entry
        else:
            known = offers.get(entry.provider)
            if known is not None and known.stamp_ns <= entry.stamp_ns:
                del offers[entry.provider]   # an older goodbye must not undo a re-announcement
        if not offers:
            del self._offers[entry.name]
        return self._current() != before

    def remove_provider(self, provider: str) -> list[str]:
        """Forget everything `provider` offered (it left the graph); the skills whose provider
        changed or that are gone, sorted."""
        before = self._current()
        for name in list(self._offers):
            self._offers[name].pop(provider, None)
            if not self._offers[name]:
                del self._offers[name]
        after = self._current()
        return sorted(n for n in before if after.get(n) != before[n])

    def get(self, name: str) -> RegisteredSkill | None:
        return self._current().get(name)

    def skills(self) -> list[RegisteredSkill]:
        """The skill used for each name (the newest offer), sorted by name."""
        return sorted(self._current().values(), key=lambda s: s.name)

    def offers(self, name: str) -> list[RegisteredSkill]:
        """Every live offer of `name`, newest first (the first one is used)."""
        return sorted(self._offers.get(name, {}).values(),
                      key=lambda e: (e.stamp_ns, e.provider), reverse=True)

    def providers(self) -> set[str]:
        return {provider for offers in self._offers.values() for provider in offers}


class ProviderPresence:
    """Which providers have left the ROS graph (pure: the node passes in the graph's node names).

    A registry entry can arrive before its node shows up in the graph (discovery of the node
    list and of the registry topic are separate), so a provider never seen in the graph is only
    declared gone after `grace_s`."""

    def __init__(self, grace_s: float = 3.0) -> None:
        self.grace_s = grace_s
        self._first_heard: dict[str, float] = {}
        self._seen: set[str] = set()

    def vanished(self, providers: set[str], graph_nodes: set[str], now_s: float) -> set[str]:
        gone = set()
        for provider in providers:
            self._first_heard.setdefault(provider, now_s)
            if provider in graph_nodes:
                self._seen.add(provider)
            elif provider in self._seen or now_s - self._first_heard[provider] > self.grace_s:
                gone.add(provider)
        for provider in set(self._first_heard) - (providers - gone):
            self._first_heard.pop(provider, None)   # a provider coming back starts afresh
            self._seen.discard(provider)
        return gone
