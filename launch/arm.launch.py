"""Bring up the arm stack: `ros2 launch vla_stack arm.launch.py [sim:=mujoco|none] [rviz:=true]`.

Nodes, names and parameters come from vla_bringup.specs (config/stacks/arm.yaml), the same
source `vla demo` uses, so the two cannot drift apart.
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from vla_bringup.profile import load_profile, resolve_path
from vla_bringup.specs import stack_specs

ROBOT = "arm"


def nodes(context):
    arg = {name: LaunchConfiguration(name).perform(context) for name in (
        "sim", "rviz", "use_sim_time", "scene", "planner_model", "namespace")}
    use_sim_time = arg["use_sim_time"].lower() in ("true", "1")
    overrides = {"planner": {"model_path": arg["planner_model"]}}
    if arg["scene"]:
        overrides["mujoco_sim"] = {"scene": arg["scene"]}
    actions = []
    for spec in stack_specs(ROBOT, overrides):
        if spec.is_sim and arg["sim"] != "mujoco":
            continue  # sim:=none: the hardware (ros2_control) publishes /joint_states
        params = dict(spec.parameters)
        if not spec.is_sim:
            params["use_sim_time"] = use_sim_time
        actions.append(Node(package="vla_stack", executable=spec.executable, name=spec.name,
                            namespace=arg["namespace"], parameters=[params],
                            remappings=spec.remappings, output="screen"))
    profile = load_profile(ROBOT)
    with open(profile["urdf"]) as f:
        robot_description = f.read()
    actions.append(Node(package="robot_state_publisher", executable="robot_state_publisher",
                        namespace=arg["namespace"],
                        parameters=[{"robot_description": robot_description,
                                     "use_sim_time": use_sim_time}]))
    if arg["rviz"].lower() in ("true", "1"):
        actions.append(Node(package="rviz2", executable="rviz2", namespace=arg["namespace"],
                            arguments=["-d", str(resolve_path(f"rviz/{ROBOT}.rviz"))],
                            parameters=[{"use_sim_time": use_sim_time}]))
    return actions


def generate_launch_description() -> LaunchDescription:
    return LaunchDescription([
        DeclareLaunchArgument("sim", default_value="mujoco", choices=["mujoco", "none"],
                              description="mujoco: embedded simulator; none: real hardware"),
        DeclareLaunchArgument("rviz", default_value="false", description="start RViz"),
        DeclareLaunchArgument("use_sim_time", default_value="true"),
        DeclareLaunchArgument("scene", default_value="", description="scene YAML (sim only)"),
        DeclareLaunchArgument("planner_model", default_value="",
                              description="local HF model dir or .gguf ('' = SmolLM2)"),
        DeclareLaunchArgument("namespace", default_value=""),
        OpaqueFunction(function=nodes),
    ])
