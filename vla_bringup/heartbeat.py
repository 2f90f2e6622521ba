"""Silence detection for anything that must keep talking: skill providers' heartbeats (the
planner), the keep-alives of a moving task's commander (the arm controller)."""


class HeartbeatMonitor:
    """Which senders have gone silent (pure: the node passes in what it heard and the time).

    Only senders that have been heard are judged (the planner leaves one that never sends to
    ProviderPresence; the arm controller judges the commander of each moving task). A check
    that runs late means this process was starved of CPU, and the silence may be ours rather
    than theirs: everyone then gets a fresh `silence_s`."""

    def __init__(self, silence_s: float, check_period_s: float) -> None:
        if not 0.0 < check_period_s < silence_s:
            raise ValueError("need 0 < check_period_s < silence_s")
        self.silence_s = silence_s
        self.late_s = 3.0 * check_period_s
        self._last_heard: dict[str, float] = {}
        self._last_check_s: float | None = None

    def heard(self, sender: str, now_s: float) -> None:
        self._last_heard[sender] = now_s

    def forget(self, sender: str) -> None:
        self._last_heard.pop(sender, None)

    def watched(self) -> set[str]:
        return set(self._last_heard)

    def silent(self, now_s: float) -> set[str]:
        """Senders not heard for more than silence_s (checked every check_period_s)."""
        late = self._last_check_s is not None and now_s - self._last_check_s > self.late_s
        self._last_check_s = now_s
        if late:
            self._last_heard = dict.fromkeys(self._last_heard, now_s)
            return set()
        return {p for p, heard_s in self._last_heard.items() if now_s - heard_s > self.silence_s}
