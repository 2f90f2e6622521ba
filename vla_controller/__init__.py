"""Whole-body control on pinocchio: robot model, tasks, differential-IK QP, IK, trajectories.

Pure algorithm code (no rclpy); the controller node wraps ``WholeBodyController``.
"""

from vla_controller.ik import IkResult, reach_sphere, solve_ik
from vla_controller.qp import DiffIkSolver, step_bounds
from vla_controller.robot_model import JointLimits, RobotModel
from vla_controller.tasks import FramePoseTask, PostureTask, Task
from vla_controller.trajectory import MinJerkPoseTrajectory
from vla_controller.wbc import TaskStatus, WholeBodyController

__all__ = [
    "DiffIkSolver",
    "FramePoseTask",
    "IkResult",
    "JointLimits",
    "MinJerkPoseTrajectory",
    "PostureTask",
    "RobotModel",
    "Task",
    "TaskStatus",
    "WholeBodyController",
    "reach_sphere",
    "solve_ik",
    "step_bounds",
]
