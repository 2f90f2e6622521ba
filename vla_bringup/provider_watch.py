"""Notice a skill provider that dies without a goodbye (crash, kill -9) within a second.

The ROS graph keeps a killed process's node for the DDS participant lease (~20 s with Fast DDS
defaults), and Fast DDS reported a lost liveliness ~0.85 s after a kill whatever the lease. So
skill servers publish their node name on HEARTBEAT_TOPIC every HEARTBEAT_PERIOD_S; a provider
silent for `silence_s` is suspended (its offers leave the planner's registry), restored at its
next heartbeat (it was only slow), and forgotten once it has left the graph.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from rclpy.clock import Clock, ClockType
from std_msgs.msg import String

from vla_bringup.heartbeat import HeartbeatMonitor
from vla_bringup.qos import HEARTBEAT_QOS
from vla_planner.registry import RegisteredSkill

HEARTBEAT_TOPIC = "/skills/heartbeat"
HEARTBEAT_PERIOD_S = 0.1
CHECK_PERIOD_S = 0.1


class ProviderWatch:
    def __init__(self, node, callback_group,
                 offers: Callable[[], list[RegisteredSkill]],
                 suspend: Callable[[str], list[RegisteredSkill]],
                 restore: Callable[[list[RegisteredSkill]], None],
                 silence_s: float = 0.5) -> None:
        """offers(): every registered offer; suspend(provider): remove its offers and return
        them; restore(offers): put them back. All three are the node's, under its own lock,
        and are never called with this watch's lock held."""
        self.node = node
        self.offers, self.suspend, self.restore = offers, suspend, restore
        self.lock = threading.Lock()
        self.monitor = HeartbeatMonitor(silence_s, CHECK_PERIOD_S)
        self.suspended: dict[str, list[RegisteredSkill]] = {}
        node.create_subscription(String, HEARTBEAT_TOPIC, self.on_heartbeat, HEARTBEAT_QOS,
                                 callback_group=callback_group)
        # wall clock: a paused or dead simulator must not pause the watch
        steady = Clock(clock_type=ClockType.STEADY_TIME)
        node.create_timer(CHECK_PERIOD_S, self.check, callback_group=callback_group, clock=steady)
        node.create_timer(1.0, self.forget_departed, callback_group=callback_group, clock=steady)

    def on_heartbeat(self, msg: String) -> None:
        provider = msg.data[:256]
        with self.lock:
            self.monitor.heard(provider, time.monotonic())
            offers = self.suspended.pop(provider, None)
        if offers:
            self.restore(offers)

    def check(self) -> None:
        with self.lock:
            silent = self.monitor.silent(time.monotonic()) - set(self.suspended)
        if not silent:
            return
        offered = {o.provider for o in self.offers()}
        for provider in sorted(silent):
            if provider in offered:
                offers = self.suspend(provider)
                with self.lock:
                    self.suspended[provider] = offers
            else:   # it withdrew its skills and left: nothing to watch
                with self.lock:
                    self.monitor.forget(provider)

    def forget_departed(self) -> None:
        """Suspended providers that have left the graph will not come back as they were."""
        graph = {f"{ns.rstrip('/')}/{name}"
                 for name, ns in self.node.get_node_names_and_namespaces()}
        with self.lock:
            for provider in [p for p in self.suspended if p not in graph]:
                del self.suspended[provider]
                self.monitor.forget(provider)
