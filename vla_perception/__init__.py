"""RGB-D perception: classical-vision object detection and text matching (no rclpy here)."""

from vla_perception.detector import DetectorConfig, ObjectDetector, detect_objects
from vla_perception.matching import TextMatcher, WordMatcher, match_object
from vla_perception.objects import DetectedObject

__all__ = [
    "DetectedObject",
    "DetectorConfig",
    "ObjectDetector",
    "TextMatcher",
    "WordMatcher",
    "detect_objects",
    "match_object",
]
