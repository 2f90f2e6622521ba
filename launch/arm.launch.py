"""Bring up the arm stack with `ros2 launch vla_stack arm.launch.py`; arguments:
sim:=mujoco|gazebo|none, rviz:=true|false, use_sim_time:=auto|true|false, skills:=...,
planner_model:=..., namespace:=..., scene:=... (`--show-args` describes them).

Nodes, names, parameters and remappings come from vla_bringup.launch_plan, which builds them from
config/stacks/arm.yaml through vla_bringup.specs: the same source `vla demo` uses, so the two
cannot drift apart.
"""

from vla_bringup.launch_plan import launch_description

ROBOT = "arm"


def generate_launch_description():
    return launch_description(ROBOT)
