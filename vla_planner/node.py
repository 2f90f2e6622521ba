"""Planner node: the SayCan loop as an action. Candidates = registered skills x perceived
objects (+ done); say = the language model; can = each skill's own affordance service; the
best candidate runs as the skill's action; repeat until done, failure or the step limit."""

import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass

from rcl_interfaces.msg import ParameterDescriptor, ParameterType
from rclpy.action import ActionServer, CancelResponse, GoalResponse
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.client import Client
from rclpy.clock import Clock, ClockType
from rclpy.exceptions import NameValidationException
from rclpy.node import Node
from rclpy.validate_full_topic_name import validate_full_topic_name
from rclpy.validate_node_name import validate_node_name
from std_msgs.msg import Bool
from visualization_msgs.msg import MarkerArray

from vla_bringup.action_client import SpinSafeActionClient
from vla_bringup.commander import wait_for
from vla_bringup.markers import planner_markers
from vla_bringup.node_runner import run_node
from vla_bringup.profile import load_profile, resolve_path
from vla_bringup.provider_watch import ProviderWatch
from vla_bringup.qos import ESTOP_STATE_QOS, REGISTRY_QOS
from vla_perception.objects import SHAPE_WORDS
from vla_planner.embedder import MiniLMEmbedder
from vla_planner.endpoint_backend import CompletionsBackend
from vla_planner.generate import run_generated_task
from vla_planner.grounding import (
    DenyList,
    Grounder,
    TaskScope,
    check_call,
    disambiguate,
    plannable_objects,
)
from vla_planner.lm_backend import TransformersBackend
from vla_planner.prompt import (
    ANY_KIND,
    DONE_CANDIDATE,
    Candidate,
    ObjectRef,
    PromptBuilder,
    SkillSpec,
    make_candidates,
)
from vla_planner.registry import ProviderPresence, RegisteredSkill, SkillRegistry
from vla_planner.saycan import (
    ExecutedStep,
    SayCanPlanner,
    StepResult,
    TaskCancelledError,
    TaskResult,
    run_task,
)
from vla_planner.scene_state import ObjectBox, describe_scene, held_object
from vla_skills.base import NO_OBJECTS_YET, PERCEPTION_SILENT
from vla_skills.world_model import objects_from_msg
from vla_stack.action import ExecuteSkill, ExecuteTask
from vla_stack.msg import PlannerStatus, PlanStep, SceneObjects, SkillCall, SkillDescription
from vla_stack.srv import QueryAffordance

PLANNER_MODES = ("saycan", "generate")
CLIENT_GRACE_S = 1.0   # a retired client out of the wait sets this long is freed


class PerceptionSilent(Exception):  # noqa: N818 - a state of the world, not a bug
    """Perception has not spoken for longer than the planner's perception_timeout_s."""


@dataclass
class SkillClients:
    """The planner's clients for one skill's current provider."""
    provider: str
    action: SpinSafeActionClient
    affordance: Client
    users: int = 0   # steps or affordance queries using them now: never destroyed under them


def skill_call(candidate: Candidate) -> SkillCall:
    return SkillCall(skill=candidate.skill, arg_names=list(candidate.args),
                     arg_values=list(candidate.args.values()))


def plan_step(scored, result: str = "", message: str = "", duration_s: float = 0.0,
              planner_ms: float = 0.0) -> PlanStep:
    return PlanStep(text=scored.candidate.text, call=skill_call(scored.candidate),
                    say=float(scored.say), can=float(scored.can), score=float(scored.score),
                    result=result, message=message, duration_s=float(duration_s),
                    planner_ms=float(planner_ms))


class PlannerNode(Node):
    def __init__(self) -> None:
        super().__init__("planner")
        self.declare_parameter("model_path", "")
        self.declare_parameter("max_steps", 6)
        # the robot's profile: its `planner_prompt` (preamble, examples); "" = the arm's
        self.declare_parameter("robot_profile", "")
        self.declare_parameter("min_affordance", 0.1)
        self.declare_parameter("affordance_timeout_s", 5.0)
        self.declare_parameter("skill_timeout_s", 120.0)
        self.declare_parameter("startup_wait_s", 10.0)
        self.declare_parameter("perception_timeout_s", 15.0)  # wall s of silence: no task runs
        self.declare_parameter("num_threads", 2)   # torch threads for the language model
        # precision of its matrix products: auto = bfloat16 where the CPU has it natively
        self.declare_parameter("lm_dtype", "auto")
        names = ParameterDescriptor(type=ParameterType.PARAMETER_STRING_ARRAY)
        self.declare_parameter("deny_skills", [""], names)    # never run these skills
        self.declare_parameter("deny_objects", [""], names)   # never touch these (fnmatch names)
        self.declare_parameter("grounding", True)  # absent objects -> infeasible; only named ones
        self.declare_parameter("mode", "saycan")   # saycan | generate (the eval baseline)
        if self.get_parameter("mode").value not in PLANNER_MODES:
            raise ValueError(f"mode must be one of {PLANNER_MODES}")
        # backend "endpoint": an OpenAI-compatible completions server scores instead
        self.declare_parameter("backend", "transformers")   # transformers | endpoint
        self.declare_parameter("endpoint_url", "")          # e.g. http://127.0.0.1:8080
        self.declare_parameter("endpoint_model", "")
        self.declare_parameter("endpoint_timeout_s", 10.0)
        self.declare_parameter("endpoint_prompt_prefix", "")  # llama-cpp-python: the BOS text
        profile_path = self.get_parameter("robot_profile").value
        self.prompt = PromptBuilder.from_config(
            load_profile(resolve_path(profile_path)).get("planner_prompt") if profile_path
            else None)
        started = time.monotonic()
        self.backend = self.make_backend()
        self.grounder = Grounder(MiniLMEmbedder())
        self.get_logger().info(f"language model {self.backend.name} and embedder ready in "
                               f"{time.monotonic() - started:.1f} s")
        self.group = ReentrantCallbackGroup()
        self.lock = threading.Lock()
        self.registry = SkillRegistry()
        self.skill_clients: dict[str, SkillClients] = {}
        self.retired_clients: list[SkillClients] = []   # replaced, destroyed once unused
        self.detached_clients: list[tuple[float, SkillClients]] = []  # out of the wait sets
        self.presence = ProviderPresence()
        self.objects: list[ObjectRef] | None = None   # None until perception has spoken
        self.boxes: dict[str, ObjectBox] = {}         # those in view now, for the State line
        self.remembered_boxes: dict[str, ObjectBox] = {}   # out of view, at their last pose
        self.objects_at = time.monotonic()            # when it last did (wall; start: now)
        self.affordance_reasons: dict[str, str] = {}  # candidate text -> the skill's last why
        self.scope: TaskScope | None = None           # the running task's grounding/deny-list
        self.busy = threading.Lock()
        self.state_ready_at = time.perf_counter()
        self.create_subscription(SkillDescription, "/skills/registry", self.on_registry,
                                 REGISTRY_QOS, callback_group=self.group)
        self.create_subscription(SceneObjects, "/perception/objects", self.on_objects, 10,
                                 callback_group=self.group)
        self.estopped = False  # latched by the controller; only its reset releases it
        self.create_subscription(Bool, "/emergency_stop/active", self.on_estop, ESTOP_STATE_QOS,
                                 callback_group=self.group)
        # providers that leave the graph without a goodbye (crash, kill) are dropped; wall-clock
        # timer: the check must go on while the simulator (the sim clock) is paused or gone
        self.create_timer(0.25, self.drop_vanished_providers, callback_group=self.group,
                          clock=Clock(clock_type=ClockType.STEADY_TIME))
        # a crashed provider stays in the graph for the DDS lease (~20 s): heartbeats
        self.provider_watch = ProviderWatch(self, self.group, self.all_offers,
                                            self.suspend_provider, self.restore_offers)
        self.status_pub = self.create_publisher(PlannerStatus, "/planner/status", 10)
        self.markers_pub = self.create_publisher(MarkerArray, "/planner/markers", 10)
        self.server = ActionServer(
            self, ExecuteTask, "/planner/execute_task", execute_callback=self.execute,
            goal_callback=self.on_goal, cancel_callback=lambda _gh: CancelResponse.ACCEPT,
            callback_group=self.group)

    def make_backend(self):
        kind = self.get_parameter("backend").value
        if kind == "endpoint":  # reachable or not, tasks fail with a clear error, not the node
            return CompletionsBackend(self.get_parameter("endpoint_url").value,
                                      self.get_parameter("endpoint_model").value,
                                      float(self.get_parameter("endpoint_timeout_s").value),
                                      prompt_prefix=self.get_parameter(
                                          "endpoint_prompt_prefix").value)
        if kind != "transformers":
            raise ValueError(f"backend must be 'transformers' or 'endpoint', got {kind!r}")
        backend = TransformersBackend(self.get_parameter("model_path").value or None,
                                      num_threads=int(self.get_parameter("num_threads").value),
                                      dtype=self.get_parameter("lm_dtype").value)
        # the few-shot header is the same for every task: compute its cache once, now
        backend.score(self.prompt.build("warm up", []), [DONE_CANDIDATE.text])
        return backend

    # -- inputs ---------------------------------------------------------------------------
    def on_registry(self, msg: SkillDescription) -> None:
        if not msg.name or len(msg.arg_names) != len(msg.arg_kinds):
            self.get_logger().warning(f"malformed registry entry {msg.name[:40]!r} ignored")
            return
        try:  # the names become clients and graph queries: they must be valid ROS names
            validate_full_topic_name(msg.action_name)
            validate_full_topic_name(msg.affordance_service, is_service=True)
            validate_node_name(msg.provider.rsplit("/", 1)[-1])
        except NameValidationException as exc:
            self.get_logger().warning(f"registry entry {msg.name[:40]!r} ignored: invalid name "
                                      f"({type(exc).__name__})", throttle_duration_sec=2.0)
            return
        entry = RegisteredSkill(
            msg.name, msg.text_template, tuple(msg.arg_names), tuple(msg.arg_kinds),
            msg.provider, msg.action_name, msg.affordance_service,
            msg.stamp.sec * 10**9 + msg.stamp.nanosec)
        try:
            SkillSpec(entry.name, entry.text_template, dict(zip(entry.arg_names, entry.arg_kinds,
                                                                strict=True)))
        except ValueError as exc:
            self.get_logger().warning(f"registry entry {msg.name!r} ignored: {exc}")
            return
        with self.lock:
            if self.registry.update(entry, msg.available):
                verb = "offers" if msg.available else "withdrew"
                self.get_logger().info(f"{msg.provider} {verb} skill {msg.name!r}")
                self.prune_clients()

    def drop_vanished_providers(self) -> None:
        graph_nodes = {f"{ns.rstrip('/')}/{name}"
                       for name, ns in self.get_node_names_and_namespaces()}
        with self.lock:
            self.finish_retired_clients()
            gone = self.presence.vanished(self.registry.providers(), graph_nodes,
                                          time.monotonic())
            for provider in sorted(gone):
                changed = self.registry.remove_provider(provider)
                self.get_logger().warning(f"{provider} left the graph; skills affected: "
                                          f"{', '.join(changed) or 'none'}")
            if gone:
                self.prune_clients()

    def all_offers(self) -> list[RegisteredSkill]:
        with self.lock:
            return self.all_offers_locked()

    def suspend_provider(self, provider: str) -> list[RegisteredSkill]:
        with self.lock:
            offers = [o for o in self.all_offers_locked() if o.provider == provider]
            changed = self.registry.remove_provider(provider)
            self.prune_clients()
        self.get_logger().warning(f"{provider} went silent (crashed?); skills affected: "
                                  f"{', '.join(changed) or 'none'}")
        return offers

    def all_offers_locked(self) -> list[RegisteredSkill]:
        """Every live offer, also the standby ones; call with self.lock held."""
        return [o for s in self.registry.skills() for o in self.registry.offers(s.name)]

    def restore_offers(self, offers: list[RegisteredSkill]) -> None:
        with self.lock:
            for offer in offers:
                self.registry.update(offer, True)
            self.prune_clients()
        self.get_logger().info(f"{offers[0].provider} is heard again: its skills are back")

    def on_estop(self, msg: Bool) -> None:
        if msg.data and not self.estopped:
            self.get_logger().warning("emergency stop: aborting any task, refusing new ones")
        self.estopped = bool(msg.data)

    def on_objects(self, msg: SceneObjects) -> None:
        refs, rejected = plannable_objects(
            (o.name, o.description, o.color, SHAPE_WORDS.get(o.shape, o.shape), o.kind)
            for o in msg.objects)
        if rejected:
            self.get_logger().warning(f"objects ignored (no plain-word description): "
                                      f"{', '.join(n[:40] for n in rejected)}")
        # only what perception sees now: a remembered object's pose is its last one (a cube
        # hidden by the gripper is remembered on the table, a held cube seen as a "red ball"
        # stays remembered in the air after it is put down)
        # (remembered ones only count as what a seen one rests on: the cube under a stacked one)
        boxes, remembered = {}, {}
        for name, info in objects_from_msg(msg).items():
            try:
                box = ObjectBox(tuple(info.position_base_m), tuple(info.size_m), info.yaw_rad)
            except ValueError:   # negative size: that object gets no State clause
                continue
            (boxes if info.visible else remembered)[name] = box
        with self.lock:
            self.objects = refs
            self.boxes = boxes
            self.remembered_boxes = remembered
            self.objects_at = time.monotonic()

    # -- ROS plumbing per skill -----------------------------------------------------------
    @contextmanager
    def clients_for(self, skill: RegisteredSkill):
        """Action and affordance clients of the skill's current provider (replaced when the
        provider changes, so goals go to the newest one; kept alive while in use)."""
        with self.lock:
            clients = self.skill_clients.get(skill.name)
            if clients is None or clients.provider != skill.provider:
                if clients is not None:
                    self.retire_clients(skill.name)
                clients = SkillClients(
                    skill.provider,
                    SpinSafeActionClient(self, ExecuteSkill, skill.action_name,
                                         callback_group=self.group),
                    self.create_client(QueryAffordance, skill.affordance_service,
                                       callback_group=self.group))
                self.skill_clients[skill.name] = clients
            clients.users += 1
        try:
            yield clients.action, clients.affordance
        finally:
            with self.lock:
                clients.users -= 1
                self.destroy_retired_clients()

    def retire_clients(self, name: str) -> None:
        """Call with self.lock held."""
        self.retired_clients.append(self.skill_clients.pop(name))
        self.destroy_retired_clients()

    def destroy_retired_clients(self) -> None:
        """Call with self.lock held: no client outlives its provider's offer once unused.
        In two steps: rclpy's ActionClient.destroy() frees the handle before leaving the node's
        waitables, and an executor thread that was just building its wait set then died on it
        ("action client pointer is invalid"). So an unused client first leaves the wait sets
        and is freed CLIENT_GRACE_S later (finish_retired_clients)."""
        for clients in [c for c in self.retired_clients if c.users == 0]:
            self.retired_clients.remove(clients)
            self.remove_waitable(clients.action)
            self.detached_clients.append((time.monotonic(), clients))

    def finish_retired_clients(self) -> None:
        """Call with self.lock held."""
        now = time.monotonic()
        for detached_at, clients in list(self.detached_clients):
            if now - detached_at > CLIENT_GRACE_S:
                self.detached_clients.remove((detached_at, clients))
                try:
                    clients.action.destroy()
                except ValueError:   # already out of the node's waitables: expected
                    pass
                self.destroy_client(clients.affordance)

    def prune_clients(self) -> None:
        """Call with self.lock held: retire clients whose provider is no longer the one used."""
        for name, clients in list(self.skill_clients.items()):
            skill = self.registry.get(name)
            if skill is None or skill.provider != clients.provider:
                self.retire_clients(name)

    def provider_offers(self, skill: RegisteredSkill) -> bool:
        with self.lock:
            return skill.provider in self.registry.providers()

    def affordances(self, candidates: list[Candidate]) -> list[float]:
        """Each skill's own service scores its candidates in one batch; silence scores 0."""
        timeout_s = float(self.get_parameter("affordance_timeout_s").value)
        values = [1.0 if c.is_done else 0.0 for c in candidates]
        self.affordance_reasons.clear()  # this step's whys only: a silent skill has none
        by_skill: dict[str, list[int]] = {}
        for index, candidate in enumerate(candidates):
            if not candidate.is_done:
                by_skill.setdefault(candidate.skill, []).append(index)
        for name, indices in by_skill.items():
            skill = self.registry.get(name)
            if skill is None:
                continue
            with self.clients_for(skill) as (_, client):
                if not client.wait_for_service(timeout_sec=timeout_s):
                    self.get_logger().warning(f"affordance service of {name!r} is not available")
                    continue
                answer = self.query_affordances(client, [candidates[i] for i in indices],
                                                timeout_s)
            if answer is None:
                self.get_logger().warning(f"affordance service of {name!r} did not answer")
                continue
            if len(answer.affordances) != len(indices):
                self.get_logger().warning(f"affordance service of {name!r}: wrong answer size")
                continue
            for i, value in zip(indices, answer.affordances, strict=True):
                values[i] = min(1.0, max(0.0, value)) if value == value else 0.0  # NaN -> 0
            if len(answer.reasons) == len(indices):
                self.affordance_reasons.update(
                    (candidates[i].text, why) for i, why in zip(indices, answer.reasons,
                                                                strict=True))
        return values

    @staticmethod
    def query_affordances(client, candidates: list[Candidate], timeout_s: float):
        """One batch query; a server that has not heard from perception yet, or not lately
        (perception starved of CPU for a few seconds), is asked again rather than read as
        "impossible" (which would end the task as stuck)."""
        request = QueryAffordance.Request(calls=[skill_call(c) for c in candidates])
        deadline = time.monotonic() + 2 * timeout_s
        while True:
            future = client.call_async(request)
            if not wait_for(future, timeout_s) or future.result() is None:
                return None
            answer = future.result()
            waiting = any(why == NO_OBJECTS_YET or why.startswith(PERCEPTION_SILENT)
                          for why in answer.reasons)
            if not waiting or time.monotonic() > deadline:
                return answer
            time.sleep(0.25)

    def snapshot(self) -> tuple[list[SkillSpec], list[ObjectRef]]:
        """The registry's current skills and the latest perceived objects."""
        with self.lock:
            skills = [SkillSpec(s.name, s.text_template,
                                dict(zip(s.arg_names, s.arg_kinds, strict=True)))
                      for s in self.registry.skills()]
            objects = list(self.objects or [])
        return skills, objects

    def task_scope(self, instruction: str) -> TaskScope:
        """Grounding of the instruction in the current scene, and the deny-list (read per task,
        so `ros2 param set` takes effect from the next task)."""
        deny = DenyList.from_lists(self.get_parameter("deny_skills").value or [],
                                   self.get_parameter("deny_objects").value or [])
        if not self.get_parameter("grounding").value:
            return TaskScope(None, deny)
        skills, objects = self.snapshot()
        destination_kinds = {kind for s in skills for kind in list(s.arg_kinds.values())[1:]}
        grounding = self.grounder.ground(
            instruction, objects, None if ANY_KIND in destination_kinds else destination_kinds)
        # "the cube" among three: one is chosen now (the language model's likeliest reading),
        # so the plan is made about one cube; left open, `done` won before anything was tried
        grounding = disambiguate(grounding, self.backend.score, deny)
        self.get_logger().info(f"grounding {instruction!r}: {grounding.describe()}")
        return TaskScope(grounding, deny)

    def world_state(self) -> tuple[list[Candidate], list[float]]:
        skills, objects = self.snapshot()
        if self.scope is not None:
            self.scope.admit(objects)  # objects first described after grounding
        candidates = make_candidates(skills, objects)
        affordances = self.affordances(candidates)
        self.state_ready_at = time.perf_counter()  # on_choice measures ranking from here
        return candidates, affordances

    def scene_words(self) -> str:
        """The running task's objects as perception shows them now, for the State line."""
        with self.lock:
            objects, boxes = list(self.objects or []), dict(self.boxes)
            remembered = dict(self.remembered_boxes)
            held = held_object(self.affordance_reasons.values())
        scope = self.scope
        objects = [o for o in objects if scope is None or scope.allows_object(o.name)]
        if scope is not None and scope.grounding is not None:
            # in the instruction's order: listed "green, red" for "the red cube and the green
            # cube", the LM took the green one first, and then preferred `done` (-1.03 vs -1.17)
            order = scope.grounding.named_order()
            objects.sort(key=lambda o: order.index(o.name) if o.name in order else len(order))
        return describe_scene([(o, boxes.get(o.name)) for o in objects], held, remembered)

    def run_skill(self, candidate: Candidate, goal_handle) -> StepResult:
        started = time.monotonic()

        def result(succeeded: bool, message: str) -> StepResult:
            return StepResult(succeeded, message, time.monotonic() - started)

        skill = self.registry.get(candidate.skill)
        if skill is None:
            return result(False, f"skill {candidate.skill!r} is no longer registered")
        problem = check_call(candidate, *self.snapshot())  # the scene may have changed
        if problem is not None:
            return result(False, f"not sent: {problem}")
        with self.clients_for(skill) as (client, _):
            if not client.wait_for_server(timeout_sec=5.0):
                return result(False, f"skill server for {candidate.skill!r} is not available")
            sent = client.send_goal_async(ExecuteSkill.Goal(call=skill_call(candidate)))
            if not wait_for(sent, 10.0) or not sent.result().accepted:
                return result(False, f"{candidate.skill} goal rejected by {skill.provider}")
            handle = sent.result()
            outcome = handle.get_result_async()
            deadline = time.monotonic() + float(self.get_parameter("skill_timeout_s").value)
            while not outcome.done():
                if goal_handle.is_cancel_requested or self.estopped:
                    wait_for(handle.cancel_goal_async(), 5.0)
                    raise TaskCancelledError("emergency stop" if self.estopped else "cancelled")
                if time.monotonic() > deadline:
                    wait_for(handle.cancel_goal_async(), 5.0)
                    return result(False, f"{candidate.skill} timed out")
                if not self.provider_offers(skill):  # stopped or crashed mid-goal
                    handle.cancel_goal_async()  # in case it lives on; a dead one never answers
                    return result(False, f"{skill.provider} went away during {candidate.skill}")
                time.sleep(0.02)
            answer = outcome.result().result
            return result(answer.success, answer.message)

    # -- the task action --------------------------------------------------------------------
    def on_goal(self, goal) -> GoalResponse:
        if not goal.instruction.strip() or len(goal.instruction) > 1000:
            self.get_logger().warning("task rejected: empty or over-long instruction")
            return GoalResponse.REJECT
        if self.busy.locked():
            self.get_logger().warning("task rejected: another task is running")
            return GoalResponse.REJECT
        if self.estopped:
            self.get_logger().warning("task rejected: emergency stop is active")
            return GoalResponse.REJECT
        return GoalResponse.ACCEPT

    def wait_for_inputs(self, timeout_s: float) -> None:
        """A task sent right after start-up must not be judged on an empty world."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self.lock:
                if self.objects is not None and self.registry.skills():
                    return
            time.sleep(0.1)
        self.get_logger().warning("planning without perception or skills: none arrived in time")

    def execute(self, goal_handle) -> ExecuteTask.Result:
        goal = goal_handle.request
        max_steps = goal.max_steps or int(self.get_parameter("max_steps").value)
        planner = SayCanPlanner(self.backend, prompt=self.prompt,
                                use_affordances=not goal.ignore_affordances)
        steps: list[PlanStep] = []
        self.wait_for_inputs(float(self.get_parameter("startup_wait_s").value))

        scene_seen = [""]   # the State line of the step being chosen, for the log

        def scene_now() -> str:
            scene_seen[0] = self.scene_words()
            return scene_seen[0]

        def on_choice(index: int, ranking) -> None:
            planner_ms = (time.perf_counter() - self.state_ready_at) * 1e3
            chosen = plan_step(ranking[0], planner_ms=planner_ms)
            by_say = sorted(ranking, key=lambda r: -r.say)[:3]  # what the LM alone would do
            self.get_logger().info(
                f"step {index + 1}: {ranking[0].candidate.text!r}; LM's top: " + "; ".join(
                    f"{r.candidate.text!r} say {r.say:.2f} can {r.can:.2f}"
                    + (f" ({self.affordance_reasons.get(r.candidate.text)})" if r.can < 0.5
                       and r.candidate.text in self.affordance_reasons else "")
                    for r in by_say)
                + (f"; state: {scene_seen[0]!r}" if scene_seen[0] else ""))
            goal_handle.publish_feedback(ExecuteTask.Feedback(
                step_index=index, step=chosen, candidates=[plan_step(r) for r in ranking[:10]]))
            self.publish_status(goal.instruction, "executing", index, ranking, chosen)

        def on_step(executed: ExecutedStep) -> None:
            result = executed.result
            step = plan_step(executed.choice, "succeeded" if result.succeeded else "failed",
                             result.message, result.duration_s, executed.planner_ms)
            steps.append(step)
            goal_handle.publish_feedback(ExecuteTask.Feedback(step_index=len(steps) - 1,
                                                              step=step))

        with self.busy:
            try:
                silent_s = time.monotonic() - self.objects_at
                if silent_s > float(self.get_parameter("perception_timeout_s").value):
                    # the last objects heard may be long gone: say so instead of planning on them
                    raise PerceptionSilent(f"{PERCEPTION_SILENT} {silent_s:.1f} s: the scene "
                                           "is unknown, nothing was tried")
                scope = self.scope = self.task_scope(goal.instruction)
                run = run_task if self.get_parameter("mode").value == "saycan" else self.generated
                outcome = run(
                    goal.instruction, planner, self.world_state,
                    lambda c: self.run_skill(c, goal_handle), max_steps=max_steps,
                    on_step=on_step, on_choice=on_choice,
                    is_cancelled=lambda: goal_handle.is_cancel_requested or self.estopped,
                    min_affordance=float(self.get_parameter("min_affordance").value),
                    scope=scope,
                    affordance_reason=lambda c: self.affordance_reasons.get(c.text, ""),
                    describe_scene=scene_now if self.prompt.shows_state else None)
            except PerceptionSilent as exc:
                outcome = TaskResult("failure", (), str(exc))
            except Exception as exc:  # noqa: BLE001 - the task ends, the node stays up
                self.get_logger().error(f"task aborted by a planning error: {exc!r}")
                outcome = TaskResult("aborted", (), f"planning error: {exc}")
        self.publish_status(goal.instruction, "finished", len(steps), [], None)
        reason = "emergency stop" if self.estopped and outcome.outcome == "aborted" \
            else outcome.reason
        if outcome.notes:
            reason = f"{reason} [{outcome.notes}]"
        self.get_logger().info(f"task {goal.instruction!r}: {outcome.outcome} ({reason})")
        result = ExecuteTask.Result(outcome=outcome.outcome, success=outcome.success,
                                    message=reason, steps=steps)
        if goal_handle.is_cancel_requested:
            goal_handle.canceled()
        elif result.success:
            goal_handle.succeed()
        else:
            goal_handle.abort()
        return result

    def generated(self, instruction: str, planner: SayCanPlanner, get_state, execute, *,
                  max_steps: int, on_step, scope: TaskScope, **_unused) -> TaskResult:
        """The generate-then-parse baseline, called like run_task."""
        def rewrite(line: str) -> str:  # the LM's object words -> perception's
            return self.grounder.ground(line, self.snapshot()[1]).lm_instruction()

        return run_generated_task(instruction, planner.backend.generate, get_state, execute,
                                  self.grounder.embedder, planner.prompt, max_steps=max_steps,
                                  on_step=on_step, scope=scope, rewrite=rewrite)

    def publish_status(self, instruction: str, state: str, index: int, ranked, chosen) -> None:
        msg = PlannerStatus(instruction=instruction, state=state, step_index=index,
                            candidates=[plan_step(r) for r in ranked[:10]])
        msg.header.stamp = self.get_clock().now().to_msg()
        if chosen is not None:
            msg.chosen = chosen
        self.status_pub.publish(msg)
        self.markers_pub.publish(planner_markers(msg, "base_link", height_m=1.0))


def main(args: list[str] | None = None) -> None:
    run_node(PlannerNode, args)


if __name__ == "__main__":
    main()
