"""Notice a skill provider that dies without a goodbye (crash, kill -9) in about a second.

The ROS graph keeps a killed process's node for the DDS participant lease (~20 s with Fast DDS
defaults). Skill servers therefore offer their registry entries with a short liveliness lease
(REGISTRY_WRITER_QOS); when any registry writer loses liveliness, every provider is asked a
trivial question (an empty affordance batch) on a client made when the provider first appeared
(so it is already matched), and the ones that do not answer are suspended. A suspended provider
that answers later (it was only slow) is restored; one that leaves the graph is forgotten.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from rclpy.clock import Clock, ClockType
from rclpy.event_handler import SubscriptionEventCallbacks

from vla_bringup.qos import REGISTRY_LIVELINESS_QOS
from vla_planner.registry import RegisteredSkill
from vla_stack.msg import SkillDescription
from vla_stack.srv import QueryAffordance


class ProviderWatch:
    def __init__(self, node, callback_group,
                 offers: Callable[[], list[RegisteredSkill]],
                 suspend: Callable[[str], list[RegisteredSkill]],
                 restore: Callable[[list[RegisteredSkill]], None],
                 probe_timeout_s: float = 0.5) -> None:
        """offers(): every registered offer; suspend(provider): remove its offers and return
        them; restore(offers): put them back. All three are the node's, under its own lock.
        callback_group must be reentrant: a probe waits inside a callback for its answer."""
        self.node, self.group = node, callback_group
        self.offers, self.suspend, self.restore = offers, suspend, restore
        self.probe_timeout_s = probe_timeout_s
        self.lock = threading.Lock()
        self.clients: dict[str, tuple[str, object]] = {}   # provider -> (service, client)
        self.suspended: dict[str, list[RegisteredSkill]] = {}
        self.checking = threading.Lock()
        # a second subscription only for the liveliness events: it asks for a finite lease, so a
        # writer that offers none (an old skill server) is merely not watched, not cut off
        node.create_subscription(
            SkillDescription, "/skills/registry", lambda _msg: None, REGISTRY_LIVELINESS_QOS,
            callback_group=callback_group,
            event_callbacks=SubscriptionEventCallbacks(liveliness=self.on_liveliness,
                                                       incompatible_qos=lambda _info: None))
        node.create_timer(1.0, self.recheck_suspended, callback_group=callback_group,
                          clock=Clock(clock_type=ClockType.STEADY_TIME))

    def client_for(self, provider: str, service: str):
        with self.lock:
            known = self.clients.get(provider)
            if known is None or known[0] != service:
                if known is not None:
                    self.node.destroy_client(known[1])
                known = (service, self.node.create_client(QueryAffordance, service,
                                                          callback_group=self.group))
                self.clients[provider] = known
            return known[1]

    def track(self) -> dict[str, str]:
        """Make sure every provider has a probe client (created ahead of any crash, so it is
        matched when needed); returns provider -> affordance service."""
        services = {}
        for offer in self.offers():
            services.setdefault(offer.provider, offer.affordance_service)
        for provider, service in services.items():
            self.client_for(provider, service)
        with self.lock:
            for provider in set(self.clients) - set(services) - set(self.suspended):
                self.node.destroy_client(self.clients.pop(provider)[1])
        return services

    def answering(self, services: dict[str, str]) -> set[str]:
        """The providers (provider -> affordance service) that answer within the probe timeout,
        all asked at once: one dead provider costs the timeout once, not once per provider."""
        clients = {p: self.client_for(p, s) for p, s in services.items()}
        futures = {p: c.call_async(QueryAffordance.Request()) for p, c in clients.items()}
        deadline = time.monotonic() + self.probe_timeout_s
        while not all(f.done() for f in futures.values()) and time.monotonic() < deadline:
            time.sleep(0.01)
        for provider, future in futures.items():
            if not future.done():
                clients[provider].remove_pending_request(future)
        return {p for p, f in futures.items() if f.done()}

    def on_liveliness(self, info) -> None:
        if info.not_alive_count_change <= 0:
            self.track()   # a writer appeared: give it a probe client now
            return
        self.checking.acquire()   # a second loss during a check: check again after it
        try:
            services = self.track()
            for provider in sorted(set(services) - self.answering(services)):
                self.suspended[provider] = self.suspend(provider)
        finally:
            self.checking.release()

    def recheck_suspended(self) -> None:
        if not self.checking.acquire(blocking=False):
            return
        try:
            self._recheck_suspended()
        finally:
            self.checking.release()

    def _recheck_suspended(self) -> None:
        if not self.suspended:
            self.track()
            return
        graph = {f"{ns.rstrip('/')}/{name}"
                 for name, ns in self.node.get_node_names_and_namespaces()}
        for provider in [p for p in self.suspended if p not in graph]:
            del self.suspended[provider]
            with self.lock:
                known = self.clients.pop(provider, None)
            if known is not None:
                self.node.destroy_client(known[1])
        services = {p: offers[0].affordance_service for p, offers in self.suspended.items()
                    if offers}
        for provider in sorted(self.answering(services)):
            self.restore(self.suspended.pop(provider))
