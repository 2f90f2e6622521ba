"""Hypothesis strategies for any ROS 2 message type, read off its rosidl definition: hostile
values on purpose (NaN, inf, extreme integers, very long or odd strings, wrong-sized and huge
arrays), always of the field's declared type, so they go out on the wire like any message."""

import importlib

from hypothesis import strategies as st
from rosidl_parser.definition import (
    AbstractNestedType,
    AbstractString,
    Array,
    BasicType,
    BoundedSequence,
    NamespacedType,
)

INT_RANGES = {
    "int8": (-2**7, 2**7 - 1), "uint8": (0, 2**8 - 1), "int16": (-2**15, 2**15 - 1),
    "uint16": (0, 2**16 - 1), "int32": (-2**31, 2**31 - 1), "uint32": (0, 2**32 - 1),
    "int64": (-2**63, 2**63 - 1), "uint64": (0, 2**64 - 1), "octet": (0, 255),
    "char": (0, 255),
}
# names a node might actually look up, mixed with junk: unknown names must be handled too
NAMES = ["joint1", "joint7", "finger_left_joint", "fl_hip_joint", "red_cube", "blue_bin",
         "pick", "place", "tool", "gripper", "tool0", "base_link", "odom", "rgb8", "32FC1"]


def text() -> st.SearchStrategy[str]:
    return st.one_of(st.sampled_from(NAMES), st.text(max_size=40),
                     st.text(min_size=1000, max_size=20_000, alphabet="ab\u00e9\u4e2d\n{}%s"))


def basic(type_name: str) -> st.SearchStrategy:
    if type_name in ("double", "long double"):
        return st.floats(allow_nan=True, allow_infinity=True)
    if type_name == "float":
        return st.floats(allow_nan=True, allow_infinity=True, width=32)
    if type_name == "boolean":
        return st.booleans()
    if type_name in INT_RANGES:
        lo, hi = INT_RANGES[type_name]
        return st.one_of(st.sampled_from([lo, hi, 0, 1]), st.integers(lo, hi))
    raise ValueError(f"no strategy for {type_name}")


def field_strategy(slot, depth: int) -> st.SearchStrategy:
    if isinstance(slot, BasicType):
        return basic(slot.typename)
    if isinstance(slot, AbstractString):
        return text()
    if isinstance(slot, NamespacedType):
        module = importlib.import_module(".".join(slot.namespaces))
        return ros_message(getattr(module, slot.name), depth + 1)
    if isinstance(slot, AbstractNestedType):
        inner = slot.value_type
        if isinstance(slot, Array):  # fixed size: the type itself enforces it
            return st.lists(field_strategy(inner, depth), min_size=slot.size, max_size=slot.size)
        if isinstance(inner, BasicType) and inner.typename in ("octet", "uint8", "char"):
            return st.binary(max_size=200_000)  # image data: any size, rarely the right one
        limit = slot.maximum_size if isinstance(slot, BoundedSequence) else None
        big = 3 if isinstance(inner, NamespacedType) else (5000 if depth < 2 else 50)
        size = big if limit is None else min(big, limit)
        if isinstance(inner, NamespacedType) and depth >= 3:
            size = 0
        return st.lists(field_strategy(inner, depth), max_size=size)
    raise ValueError(f"no strategy for {slot}")


def ros_message(cls, depth: int = 0) -> st.SearchStrategy:
    """Any instance of the message class cls."""
    names = list(cls.get_fields_and_field_types())
    fields = {name: field_strategy(slot, depth) for name, slot in zip(names, cls.SLOT_TYPES,
                                                                         strict=True)}
    return st.fixed_dictionaries(fields).map(lambda values: cls(**values))
