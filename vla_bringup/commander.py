"""A friendly Python API over the stack's actions (in the spirit of nav2_simple_commander).

    commander = StackCommander()
    commander.wait_until_ready()
    commander.execute_task("put the red cube in the blue bin")
    while not commander.is_task_complete(): ...
    if commander.get_result() == TaskResult.SUCCEEDED: ...
"""

import threading
import time
from collections.abc import Callable
from enum import Enum

import numpy as np
from action_msgs.msg import GoalStatus
from rclpy.executors import MultiThreadedExecutor
from rclpy.node import Node
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import Image

from vla_bringup.action_client import SpinSafeActionClient
from vla_bringup.qos import REGISTRY_QOS, SENSOR_QOS
from vla_stack.action import ExecuteTask
from vla_stack.msg import SceneObjects, SkillDescription, WholeBodyState
from vla_stack.srv import CheckGoal


def wait_for(future, timeout_s: float) -> bool:
    """Wait for a future completed by a spinning executor in another thread; True if done."""
    deadline = time.monotonic() + timeout_s
    while not future.done() and time.monotonic() < deadline:
        time.sleep(0.01)
    return future.done()


class TaskResult(Enum):
    UNKNOWN = 0
    SUCCEEDED = 1
    FAILED = 2
    INFEASIBLE = 3
    ABORTED = 4
    CANCELED = 5


OUTCOME_RESULTS = {"success": TaskResult.SUCCEEDED, "failure": TaskResult.FAILED,
                   "infeasible": TaskResult.INFEASIBLE, "aborted": TaskResult.ABORTED}


class StackCommander(Node):
    def __init__(self, node_name: str = "vla_commander", record_camera: bool = False,
                 camera_every_n: int = 2):
        super().__init__(node_name)
        self.lock = threading.Lock()
        self.skills: dict[str, SkillDescription] = {}
        self.objects: SceneObjects | None = None
        self.sim_time_s = 0.0
        self.loop_rates_hz: list[float] = []
        self.frames: list[np.ndarray] = []
        self.camera_every_n = max(1, camera_every_n)
        self._camera_count = 0
        self._goal_handle = None
        self._result_future = None
        self.feedback: list[ExecuteTask.Feedback] = []
        self.on_feedback: Callable[[ExecuteTask.Feedback], None] | None = None
        self.task_client = SpinSafeActionClient(self, ExecuteTask, "/planner/execute_task")
        self.goal_client = self.create_client(CheckGoal, "/sim/check_goal")
        self.create_subscription(SkillDescription, "/skills/registry", self._on_skill,
                                 REGISTRY_QOS)
        self.create_subscription(SceneObjects, "/perception/objects", self._on_objects, 10)
        self.create_subscription(Clock, "/clock", self._on_clock, 10)
        self.create_subscription(WholeBodyState, "/wbc/state", self._on_wbc, 10)
        if record_camera:  # 640x480 frames cost real CPU to receive: only when recording
            self.create_subscription(Image, "/camera/color/image_raw", self._on_image,
                                     SENSOR_QOS)
        self._executor = MultiThreadedExecutor(num_threads=2)
        self._executor.add_node(self)
        self._spin_thread = threading.Thread(target=self._executor.spin, daemon=True)
        self._spin_thread.start()

    # -- observations ------------------------------------------------------------------
    def _on_skill(self, msg: SkillDescription) -> None:
        with self.lock:
            if msg.available:
                self.skills[msg.name] = msg
            else:
                self.skills.pop(msg.name, None)

    def _on_objects(self, msg: SceneObjects) -> None:
        with self.lock:
            self.objects = msg

    def _on_clock(self, msg: Clock) -> None:
        self.sim_time_s = msg.clock.sec + msg.clock.nanosec * 1e-9

    def _on_wbc(self, msg: WholeBodyState) -> None:
        if msg.loop_rate_hz > 0:
            with self.lock:
                self.loop_rates_hz.append(msg.loop_rate_hz)

    def _on_image(self, msg: Image) -> None:
        self._camera_count += 1
        if self._camera_count % self.camera_every_n:
            return
        if msg.encoding != "rgb8" or len(msg.data) != msg.height * msg.width * 3:
            return
        frame = np.frombuffer(msg.data, dtype=np.uint8).reshape(msg.height, msg.width, 3)
        with self.lock:
            self.frames.append(frame[::2, ::2].copy())  # half size keeps a long episode small

    # -- readiness -----------------------------------------------------------------------
    def wait_until_ready(self, timeout_s: float = 180.0, min_skills: int = 1,
                         progress: Callable[[str], None] | None = None) -> bool:
        """Planner up, skills registered, perception publishing. False on timeout."""
        deadline = time.monotonic() + timeout_s
        waiting_for = ""
        while time.monotonic() < deadline:
            with self.lock:
                missing = [what for what, ok in (
                    ("planner", self.task_client.server_is_ready()),
                    ("skills", len(self.skills) >= min_skills),
                    ("perception", self.objects is not None and len(self.objects.objects) > 0),
                ) if not ok]
            if not missing:
                return True
            if progress and ", ".join(missing) != waiting_for:
                waiting_for = ", ".join(missing)
                progress(f"waiting for {waiting_for}")
            time.sleep(0.2)
        return False

    # -- tasks ----------------------------------------------------------------------------
    def execute_task(self, instruction: str, max_steps: int = 0,
                     ignore_affordances: bool = False, timeout_s: float = 10.0) -> bool:
        """Send a task to the planner; True if accepted."""
        goal = ExecuteTask.Goal(instruction=instruction, max_steps=max_steps,
                                ignore_affordances=ignore_affordances)
        self.feedback = []
        future = self.task_client.send_goal_async(goal, feedback_callback=self._on_feedback)
        if not wait_for(future, timeout_s):
            return False
        self._goal_handle = future.result()
        if not self._goal_handle.accepted:
            return False
        self._result_future = self._goal_handle.get_result_async()
        return True

    def _on_feedback(self, msg) -> None:
        self.feedback.append(msg.feedback)
        if self.on_feedback is not None:
            self.on_feedback(msg.feedback)

    def is_task_complete(self) -> bool:
        return self._result_future is None or self._result_future.done()

    def wait_for_task(self, timeout_s: float) -> bool:
        return self._result_future is not None and wait_for(self._result_future, timeout_s)

    def cancel_task(self) -> None:
        if self._goal_handle is not None and not self.is_task_complete():
            wait_for(self._goal_handle.cancel_goal_async(), 5.0)

    def get_task_result(self) -> ExecuteTask.Result | None:
        if self._result_future is None or not self._result_future.done():
            return None
        return self._result_future.result().result

    def get_result(self) -> TaskResult:
        if self._result_future is None or not self._result_future.done():
            return TaskResult.UNKNOWN
        wrapped = self._result_future.result()
        if wrapped.status == GoalStatus.STATUS_CANCELED:
            return TaskResult.CANCELED
        return OUTCOME_RESULTS.get(wrapped.result.outcome, TaskResult.UNKNOWN)

    # -- ground truth (simulation only) ----------------------------------------------------
    def check_goal(self, goal: str, timeout_s: float = 10.0) -> CheckGoal.Response:
        if not self.goal_client.wait_for_service(timeout_sec=timeout_s):
            raise RuntimeError("/sim/check_goal is not available (is the simulator running?)")
        future = self.goal_client.call_async(CheckGoal.Request(goal=goal))
        if not wait_for(future, timeout_s):
            raise RuntimeError("/sim/check_goal did not answer")
        return future.result()

    def close(self) -> None:
        self._executor.shutdown(timeout_sec=1.0)
        self.destroy_node()
