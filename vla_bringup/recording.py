"""Episode bags: ROS 2 messages -> an MCAP file (`ros2` profile, CDR, `ros2msg` schemas) that
`ros2 bag` and Foxglove open, written without ROS by PyPI `mcap-ros2-support`.

Feed it (topic, message, stamp_ns) from any subscriber: the message definitions (with every
nested type) are read from the installed .msg files and embedded, so the bag is self-describing.
No rclpy import: messages are duck-typed rosidl Python objects (or plain dicts with `type_name`).
"""

from __future__ import annotations

import array
import importlib
import os
import re
import sys
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from mcap.records import Schema
from mcap_ros2.writer import Writer

from vla_bringup.profile import package_root

# the stack's topics worth recording, with their types (docs/ARCHITECTURE.md)
STACK_TOPICS: dict[str, str] = {
    "/joint_states": "sensor_msgs/msg/JointState",
    "/perception/objects": "vla_stack/msg/SceneObjects",
    "/planner/status": "vla_stack/msg/PlannerStatus",
    "/wbc/state": "vla_stack/msg/WholeBodyState",
    "/wbc/target": "vla_stack/msg/WholeBodyTarget",
    "/skills/registry": "vla_stack/msg/SkillDescription",
    "/camera/color/image_raw": "sensor_msgs/msg/Image",
    "/camera/color/camera_info": "sensor_msgs/msg/CameraInfo",
    "/odom": "nav_msgs/msg/Odometry",   # floating bases (legged robots) only
    "/cmd_vel": "geometry_msgs/msg/Twist",
}
# minimum spacing of recorded messages per topic (message time, seconds): the camera at 1 Hz
DEFAULT_MIN_PERIOD_S: dict[str, float] = {
    "/camera/color/image_raw": 1.0,
    "/camera/color/camera_info": 1.0,
}
SEPARATOR = "=" * 80
PRIMITIVES = frozenset({
    "bool", "byte", "char", "float32", "float64", "int8", "uint8", "int16", "uint16", "int32",
    "uint32", "int64", "uint64", "string", "wstring"})
_ARRAY_SUFFIX = re.compile(r"\[[^\]]*\]$")
_STRING_BOUND = re.compile(r"^(w?string)<=\d+$")


def type_name_of(msg: Any) -> str:
    """'sensor_msgs/msg/JointState' for a rosidl Python message object."""
    module = type(msg).__module__.split(".")
    if len(module) < 2 or not hasattr(msg, "get_fields_and_field_types"):
        raise TypeError(f"not a ROS 2 message: {type(msg).__name__}")
    return f"{module[0]}/{module[1]}/{type(msg).__name__}"


def _split_type(type_name: str) -> tuple[str, str]:
    parts = type_name.split("/")
    if len(parts) == 3 and parts[1] == "msg":
        return parts[0], parts[2]
    if len(parts) == 2:
        return parts[0], parts[1]
    raise ValueError(f"bad message type {type_name!r}; expected pkg/msg/Type")


def msg_file(type_name: str) -> Path:
    """The .msg file of a type: this package's msg/ for vla_stack, else the share dirs of
    AMENT_PREFIX_PATH and of this Python environment."""
    package, name = _split_type(type_name)
    dirs = [package_root() / "msg"] if package == "vla_stack" else []
    prefixes = [p for p in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep) if p]
    dirs += [Path(p) / "share" / package / "msg" for p in [*prefixes, sys.prefix]]
    for directory in dirs:
        if (directory / f"{name}.msg").is_file():
            return directory / f"{name}.msg"
    raise ValueError(f"no message definition for {type_name} (looked in {dirs})")


def _field_types(text: str, package: str) -> list[str]:
    """The non-primitive field types of a .msg text, as pkg/msg/Type."""
    found = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        base = _ARRAY_SUFFIX.sub("", line.split()[0])
        if base in PRIMITIVES or _STRING_BOUND.match(base):
            continue
        pkg, name = _split_type(base) if "/" in base else (package, base)
        found.append(f"{pkg}/msg/{name}")
    return found


def message_definition(type_name: str) -> str:
    """The full `ros2msg` schema text: the type's .msg, then each nested type once (depth
    first) after a separator line and `MSG: pkg/Type`, as rosbag2 writes it."""
    package, _ = _split_type(type_name)
    main = msg_file(type_name).read_text()
    order: list[str] = []
    texts: dict[str, str] = {}

    def visit(text: str, pkg: str) -> None:
        for dep in _field_types(text, pkg):
            if dep not in texts:
                texts[dep] = msg_file(dep).read_text()
                order.append(dep)
                visit(texts[dep], _split_type(dep)[0])

    visit(main, package)
    parts = [main.rstrip("\n")]
    for dep in order:
        pkg, name = _split_type(dep)
        parts.append(f"{SEPARATOR}\nMSG: {pkg}/{name}\n{texts[dep].rstrip()}")
    return "\n".join(parts) + "\n"


def to_plain(value: Any) -> Any:
    """A rosidl message as nested dicts/lists the CDR encoder takes (numpy arrays of fixed-size
    fields become lists, uint8 ones bytes)."""
    if hasattr(value, "get_fields_and_field_types"):
        return {f: to_plain(getattr(value, f)) for f in value.get_fields_and_field_types()}
    if isinstance(value, (bytes, str, bool, int, float, array.array)):
        return value
    if hasattr(value, "dtype") and hasattr(value, "tolist"):  # numpy array
        return value.tobytes() if value.dtype.name == "uint8" else value.tolist()
    if isinstance(value, (list, tuple)):
        return [to_plain(v) for v in value]
    return value


class BagRecorder:
    """Thread-safe MCAP writer: `write(topic, msg, stamp_ns)` from any callback, `close()` at
    the end (or use it as a context manager). Topics with a min period (message time) are
    thinned; the first message of a topic fixes its type."""

    def __init__(self, path: str | Path, min_period_s: dict[str, float] | None = None,
                 metadata: dict[str, str] | None = None):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.min_period_ns = {t: int(p * 1e9) for t, p in (
            DEFAULT_MIN_PERIOD_S if min_period_s is None else min_period_s).items()}
        self.counts: dict[str, int] = {}
        self._file = open(self.path, "wb")  # noqa: SIM115 - closed in close()
        self._writer = Writer(self._file)
        self._schemas: dict[str, Schema] = {}
        self._topic_types: dict[str, str] = {}
        self._last_ns: dict[str, int] = {}
        self._lock = threading.Lock()
        self._closed = False
        if metadata:
            self._writer.add_metadata("vla_stack", {k: str(v) for k, v in metadata.items()})

    def write(self, topic: str, msg: Any, stamp_ns: int, type_name: str | None = None) -> bool:
        """Record one message at log time stamp_ns (ns; ROS time of the recording node).
        Returns False if thinned out by the topic's min period. Raises ValueError if the
        topic changes type or the recorder is closed."""
        type_name = type_name or type_name_of(msg)
        with self._lock:
            if self._closed:
                raise ValueError(f"recorder for {self.path} is closed")
            known = self._topic_types.setdefault(topic, type_name)
            if known != type_name:
                raise ValueError(f"{topic} is {known}, got a {type_name}")
            period, last = self.min_period_ns.get(topic, 0), self._last_ns.get(topic)
            if last is not None and period and 0 <= stamp_ns - last < period:
                return False
            schema = self._schemas.get(type_name)
            if schema is None:
                schema = self._writer.register_msgdef(type_name, message_definition(type_name))
                self._schemas[type_name] = schema
            self._writer.write_message(topic, schema, to_plain(msg), log_time=int(stamp_ns),
                                       publish_time=int(stamp_ns),
                                       sequence=self.counts.get(topic, 0))
            self._last_ns[topic] = stamp_ns
            self.counts[topic] = self.counts.get(topic, 0) + 1
            return True

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._writer.finish()
            self._file.close()

    def __enter__(self) -> BagRecorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def record_mcap(path: str | Path, messages: Iterable[tuple[str, Any, int]],
                min_period_s: dict[str, float] | None = None,
                metadata: dict[str, str] | None = None) -> dict[str, int]:
    """Write (topic, msg, stamp_ns) tuples to an MCAP bag; returns messages written per topic."""
    with BagRecorder(path, min_period_s, metadata) as recorder:
        for topic, msg, stamp_ns in messages:
            recorder.write(topic, msg, stamp_ns)
    return dict(recorder.counts)


def message_class(type_name: str) -> type:
    """The rosidl Python class of 'pkg/msg/Type' (imports pkg.msg; no rclpy needed)."""
    package, name = _split_type(type_name)
    return getattr(importlib.import_module(f"{package}.msg"), name)


def attach_recorder(node: Any, recorder: BagRecorder, qos_by_topic: dict[str, Any],
                    topics: dict[str, str] | None = None, default_qos: Any = 10,
                    now_ns: Callable[[], int] | None = None) -> list[Any]:
    """Subscribe `node` (an rclpy Node) to `topics` (topic -> type, default STACK_TOPICS) and
    write every message to `recorder`, logged at `now_ns()` (default: the node's ROS clock, i.e.
    sim time when the node has use_sim_time). Returns the subscriptions."""
    topics = STACK_TOPICS if topics is None else topics
    clock = now_ns or (lambda: node.get_clock().now().nanoseconds)
    subscriptions = []
    for topic, type_name in topics.items():
        def callback(msg: Any, topic: str = topic, type_name: str = type_name) -> None:
            try:
                recorder.write(topic, msg, clock(), type_name)
            except ValueError:  # closed while a callback was in flight
                pass
        subscriptions.append(node.create_subscription(
            message_class(type_name), topic, callback, qos_by_topic.get(topic, default_qos)))
    return subscriptions
