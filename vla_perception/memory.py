"""Short-term object memory: an object hidden for a moment (by the gripper, say) is still
known at its last pose, flagged as not visible, until it has been unseen for `hold_s`."""

from dataclasses import dataclass

from vla_perception.objects import DetectedObject


@dataclass
class Remembered:
    obj: DetectedObject
    last_seen_s: float
    visible: bool


class ObjectMemory:
    def __init__(self, hold_s: float = 30.0):
        if not hold_s >= 0.0:
            raise ValueError("hold_s must be >= 0")
        self.hold_s = hold_s
        self._objects: dict[str, Remembered] = {}

    def update(self, detections: list[DetectedObject], t_s: float) -> list[Remembered]:
        """Merge one frame's detections (names are the identity); returns what is known now."""
        if any(t_s < r.last_seen_s - 1.0 for r in self._objects.values()):
            self._objects.clear()  # time went backwards (sim reset): start over
        seen = {d.name for d in detections}
        for name, memory in list(self._objects.items()):
            memory.visible = name in seen
            if not memory.visible and t_s - memory.last_seen_s > self.hold_s:
                del self._objects[name]
        for detection in detections:
            self._objects[detection.name] = Remembered(detection, t_s, True)
        return sorted(self._objects.values(), key=lambda r: r.obj.name)
