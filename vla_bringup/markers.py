"""RViz markers and TF frames for the stack, built from its own messages by pure functions (no
rclpy): perceived objects with labels, the planner's candidates and chosen step as text above the
robot, and the whole-body targets. Nodes call these from thin hooks and publish the result.

Marker namespaces are fixed so RViz configs can toggle them: objects / labels (perception),
planner (text lines), wbc_targets / wbc_labels (skills)."""

from __future__ import annotations

from geometry_msgs.msg import Point, Pose, TransformStamped
from std_msgs.msg import ColorRGBA, Header
from visualization_msgs.msg import Marker, MarkerArray

PLANNER_LINE_SPACING_M = 0.07
PLANNER_TEXT_HEIGHT_M = 0.05
LABEL_TEXT_HEIGHT_M = 0.03
TARGET_AXIS_LENGTH_M = 0.08


def _rgba(r: float, g: float, b: float, a: float = 1.0) -> ColorRGBA:
    return ColorRGBA(r=float(r), g=float(g), b=float(b), a=float(a))


def _text(header: Header, ns: str, marker_id: int, text: str, position: Point,
          height_m: float, color: ColorRGBA) -> Marker:
    marker = Marker(header=header, ns=ns, id=marker_id, type=Marker.TEXT_VIEW_FACING,
                    action=Marker.ADD, text=text, color=color)
    marker.pose.position = position
    marker.pose.orientation.w = 1.0
    marker.scale.z = float(height_m)
    return marker


def object_markers(objects_msg) -> MarkerArray:
    """vla_stack/SceneObjects -> a box per object (faint when remembered, not seen) and its name
    above it; starts with DELETEALL so objects that are gone disappear."""
    markers = [Marker(header=objects_msg.header, action=Marker.DELETEALL)]
    for index, entry in enumerate(objects_msg.objects):
        box = Marker(header=objects_msg.header, ns="objects", id=index, type=Marker.CUBE,
                     action=Marker.ADD, pose=entry.pose, scale=entry.size,
                     color=_rgba(entry.rgba.r, entry.rgba.g, entry.rgba.b,
                                 0.6 if entry.confidence >= 0.5 else 0.2))
        markers.append(box)
        above = Point(x=entry.pose.position.x, y=entry.pose.position.y,
                      z=entry.pose.position.z + entry.size.z / 2 + 0.04)
        markers.append(_text(objects_msg.header, "labels", index, entry.name, above,
                             LABEL_TEXT_HEIGHT_M, _rgba(1.0, 1.0, 1.0)))
    return MarkerArray(markers=markers)


def planner_markers(status, frame_id: str, height_m: float, max_candidates: int = 5
                    ) -> MarkerArray:
    """vla_stack/PlannerStatus -> text lines stacked above the robot's base frame: the chosen
    step (green, on top), then the best candidates with say / can / score, then the task."""
    header = Header(stamp=status.header.stamp, frame_id=frame_id)
    chosen = status.chosen.text if status.chosen.text else ""
    lines: list[tuple[str, ColorRGBA, float]] = [
        (f"task: {status.instruction}" if status.instruction else "planner idle",
         _rgba(0.8, 0.8, 0.8), PLANNER_TEXT_HEIGHT_M * 0.8)]
    for step in reversed(status.candidates[:max_candidates]):
        lines.append((f"{step.text}   say {step.say:.2f}  can {step.can:.2f}  "
                      f"score {step.score:.3f}", _rgba(1.0, 1.0, 0.4, 0.8),
                      PLANNER_TEXT_HEIGHT_M * 0.7))
    if chosen:
        lines.append((f"{status.step_index + 1}. {chosen}", _rgba(0.3, 1.0, 0.3),
                      PLANNER_TEXT_HEIGHT_M))
    elif status.state:
        lines.append((status.state, _rgba(1.0, 1.0, 1.0), PLANNER_TEXT_HEIGHT_M))
    markers = [Marker(header=header, ns="planner", action=Marker.DELETEALL)]
    for index, (text, color, size) in enumerate(lines):
        position = Point(z=float(height_m + index * PLANNER_LINE_SPACING_M))
        markers.append(_text(header, "planner", index, text, position, size, color))
    return MarkerArray(markers=markers)


def _axis(header: Header, ns: str, marker_id: int, pose: Pose, axis: int) -> Marker:
    """An arrow along one axis of `pose` (x red, y green, z blue), like RViz's Axes: the arrow's
    start and end points are given in the pose's own frame."""
    marker = Marker(header=header, ns=ns, id=marker_id, type=Marker.ARROW, action=Marker.ADD,
                    pose=pose)
    tip = [0.0, 0.0, 0.0]
    tip[axis] = TARGET_AXIS_LENGTH_M
    marker.points = [Point(), Point(x=tip[0], y=tip[1], z=tip[2])]
    marker.scale.x, marker.scale.y, marker.scale.z = 0.008, 0.016, 0.02  # shaft, head d, head l
    marker.color = _rgba(*((1.0, 0.2, 0.2), (0.2, 1.0, 0.2), (0.2, 0.4, 1.0))[axis])
    return marker


def wbc_target_markers(target_msg) -> MarkerArray:
    """vla_stack/WholeBodyTarget -> axes at each frame_pose task's target and a label with the
    task and frame; a REMOVE clears that task's markers. Marker ids come from the task name so
    updates replace the earlier target."""
    header = target_msg.header
    markers = []
    for task in target_msg.tasks:
        base_id = (sum(task.name.encode()) % 10000) * 4
        if task.operation == task.REMOVE:
            markers += [Marker(header=header, ns=ns, id=base_id + i, action=Marker.DELETE)
                        for ns, i in (("wbc_targets", 0), ("wbc_targets", 1),
                                      ("wbc_targets", 2), ("wbc_labels", 0))]
            continue
        if task.type != "frame_pose":
            continue   # joint and posture targets have no place in space
        markers += [_axis(header, "wbc_targets", base_id + axis, task.target_pose, axis)
                    for axis in range(3)]
        above = Point(x=task.target_pose.position.x, y=task.target_pose.position.y,
                      z=task.target_pose.position.z + 0.05)
        markers.append(_text(header, "wbc_labels", base_id, f"{task.name} -> {task.frame}",
                             above, LABEL_TEXT_HEIGHT_M, _rgba(0.6, 0.8, 1.0)))
    return MarkerArray(markers=markers)


def odom_transform(odom_msg) -> TransformStamped:
    """nav_msgs/Odometry -> the odom -> base TF it describes (REP 105)."""
    transform = TransformStamped()
    transform.header = odom_msg.header
    transform.child_frame_id = odom_msg.child_frame_id
    p, q = odom_msg.pose.pose.position, odom_msg.pose.pose.orientation
    transform.transform.translation.x = p.x
    transform.transform.translation.y = p.y
    transform.transform.translation.z = p.z
    transform.transform.rotation = q
    return transform


def object_transforms(objects_msg) -> list[TransformStamped]:
    """vla_stack/SceneObjects -> one TF frame per object (named after it) in the header frame."""
    transforms = []
    for entry in objects_msg.objects:
        transform = TransformStamped()
        transform.header = objects_msg.header
        transform.child_frame_id = entry.name
        p = entry.pose.position
        transform.transform.translation.x = p.x
        transform.transform.translation.y = p.y
        transform.transform.translation.z = p.z
        transform.transform.rotation = entry.pose.orientation
        transforms.append(transform)
    return transforms


def tf_broadcaster(node):
    """sendTransform of a tf2_ros TransformBroadcaster for `node`, or None where tf2_ros is not
    installed (the PyPI ROS wheels lack it): TF is a bonus for RViz, never a requirement."""
    try:
        from tf2_ros import TransformBroadcaster
    except ImportError:
        return None
    return TransformBroadcaster(node).sendTransform
