"""OpenAI-compatible completions backend: clear errors (and an aborted task) when the endpoint is
unreachable or silent, and, against a real llama.cpp server (llama-cpp-python's
`python -m llama_cpp.server` with the packaged SmolLM2 GGUF), scores that agree with the local
transformers backend on the same model.

The server test is opt-in: it runs where `llama-cpp-python[server]==0.3.36` is installed
(a ~10 min source build on 2 cores, so CI does not install it); elsewhere it is skipped.
"""

import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request

import pytest
from test_saycan import TASK, TableRobot

from vla_planner.endpoint_backend import CompletionsBackend, EndpointError
from vla_planner.prompt import PromptBuilder
from vla_planner.saycan import SayCanPlanner, run_task


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_bad_configuration_is_refused():
    with pytest.raises(ValueError):
        CompletionsBackend("127.0.0.1:8080")
    with pytest.raises(ValueError):
        CompletionsBackend("http://127.0.0.1:8080", timeout_s=0)
    assert CompletionsBackend("http://h:1/v1/").url == "http://h:1/v1/completions"


def test_unreachable_endpoint_is_a_clear_error_and_the_task_ends():
    backend = CompletionsBackend(f"http://127.0.0.1:{free_port()}", timeout_s=2.0)
    with pytest.raises(EndpointError, match="unreachable"):
        backend.score("Task: x.\nPlan:\n1.", [" done"])
    robot = TableRobot()
    with pytest.raises(EndpointError):  # the planner node turns this into an aborted task
        run_task(TASK, SayCanPlanner(backend), robot.state, robot.execute)
    assert robot.held is None and robot.inside == {}


def test_silent_endpoint_times_out():
    """A real socket that accepts connections and never answers (a hung server)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    accepted = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        backend = CompletionsBackend(f"http://127.0.0.1:{listener.getsockname()[1]}",
                                     timeout_s=1.0)
        started = time.monotonic()
        with pytest.raises(EndpointError, match="timed out"):
            backend.score("Task: x.\nPlan:\n1.", [" done"])
        assert time.monotonic() - started < 30.0  # bounded by the timeout, not hanging
    finally:
        stop.set()
        thread.join(timeout=5)
        for conn in accepted:
            conn.close()
        listener.close()


@pytest.fixture(scope="module")
def llama_server():
    pytest.importorskip("llama_cpp.server", reason="llama-cpp-python[server] not installed")
    from vla_planner.model_cache import find_smollm2_gguf

    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(find_smollm2_gguf()),
         "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048", "--logits_all", "true",
         "--n_threads", "2"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=dict(os.environ))
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120.0
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url + "/v1/models", timeout=2.0).read()
            break
        except OSError:
            if proc.poll() is not None:
                pytest.fail(f"llama_cpp.server exited: {proc.stdout.read()[-2000:]!r}")
            time.sleep(0.5)
    else:
        proc.kill()
        pytest.fail("llama_cpp.server did not come up in 120 s")
    yield url
    proc.terminate()
    proc.wait(timeout=20)


def test_endpoint_scores_agree_with_local_transformers(llama_server):
    from vla_planner.lm_backend import TransformersBackend

    endpoint = CompletionsBackend(llama_server, timeout_s=60.0)
    local = TransformersBackend()
    prompt = PromptBuilder().build(TASK, [])
    texts = [PromptBuilder.candidate_text(c) for c in TableRobot().candidates]
    remote_scores = endpoint.score_detailed(prompt, texts)
    local_scores = local.score_detailed(prompt, texts)
    assert [r.n_tokens for r in remote_scores] == [s.n_tokens for s in local_scores]
    # same weights; llama.cpp computes in its own kernels, transformers in float32 torch
    for remote, mine in zip(remote_scores, local_scores, strict=True):
        assert remote.logprob == pytest.approx(mine.logprob, abs=0.3)
    best = max(range(len(texts)), key=lambda i: remote_scores[i].logprob)
    assert texts[best] == max(texts, key=lambda t: local_scores[texts.index(t)].logprob)


def test_saycan_plans_through_the_endpoint(llama_server):
    robot = TableRobot()
    result = run_task(TASK, SayCanPlanner(CompletionsBackend(llama_server, timeout_s=60.0)),
                      robot.state, robot.execute, max_steps=5)
    assert result.outcome == "success" and robot.inside == {"red_cube": "blue_bin"}
