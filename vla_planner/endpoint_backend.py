"""Scoring through an OpenAI-compatible completions endpoint (llama.cpp's server, vLLM, ...).

For users whose model runs on another machine or a GPU server. log p(candidate | prompt) comes
from the prompt log-probabilities such servers return with `echo: true, logprobs: N`: we send
prompt + candidate, and sum the log-probabilities of the candidate's tokens. The server must
tokenise the prompt/candidate boundary the way the model would (candidates start with a space,
prompts end in "N.", so the boundary is a token boundary for the BPE vocabularies we know).

Servers differ in where their text offsets begin (llama-cpp-python leaves a leading BOS token
out of them, vLLM does not), so the candidate's tokens are the ones in its span that spell it.

`prompt_prefix` is sent before every prompt. llama-cpp-python's server (0.3.x) pairs each echoed
token with the log-probabilities *after* it (log p(x_i | x_<=i)) unless the prompt starts with
the model's BOS token, which it strips first; with the BOS text as prefix (SmolLM2:
"<|im_start|>") its numbers are right, and the scores are those of BOS + prompt.
"""

from __future__ import annotations

import json
import math
import os
import urllib.error
import urllib.request
from collections.abc import Sequence
from typing import Any

from vla_planner.lm_backend import TextScore, validate_inputs


class EndpointError(RuntimeError):
    """The endpoint is unreachable, timed out, or answered something unusable."""


class CompletionsBackend:
    """ScoringBackend over POST {base_url}/v1/completions.

    base_url: e.g. http://127.0.0.1:8080 (with or without a trailing /v1). api_key: sent as a
    bearer token; default $VLA_LM_API_KEY (never logged). prompt_prefix: text sent before every
    prompt (see the module's note on llama-cpp-python).
    """

    def __init__(self, base_url: str, model: str = "", timeout_s: float = 10.0,
                 api_key: str | None = None, prompt_prefix: str = "") -> None:
        if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
            raise ValueError(f"endpoint URL must start with http:// or https://: {base_url!r}")
        if not timeout_s > 0:
            raise ValueError(f"timeout_s must be > 0, got {timeout_s}")
        root = base_url.rstrip("/")
        self.url = (root if root.endswith("/v1") else root + "/v1") + "/completions"
        if not isinstance(prompt_prefix, str):
            raise ValueError(f"prompt_prefix must be a string, got {prompt_prefix!r}")
        self.model = model
        self.timeout_s = timeout_s
        self.prompt_prefix = prompt_prefix
        self._api_key = api_key if api_key is not None else os.environ.get("VLA_LM_API_KEY")
        self.name = f"endpoint:{model or root}"

    # ---- ScoringBackend -----------------------------------------------------------------------
    def score(self, prompt: str, candidates: Sequence[str]) -> list[float]:
        return [s.logprob for s in self.score_detailed(prompt, candidates)]

    def score_detailed(self, prompt: str, candidates: Sequence[str]) -> list[TextScore]:
        candidates = validate_inputs(prompt, candidates)
        # one request per candidate: servers differ in how they batch list prompts, and
        # llama.cpp reuses the shared prompt prefix from its cache anyway
        return [self._score_one(prompt, text) for text in candidates]

    def generate(self, prompt: str, max_new_tokens: int = 64, stop: str = "\n\n") -> str:
        if not isinstance(prompt, str) or not prompt:
            raise ValueError("prompt must be a non-empty string")
        answer = self._post({"prompt": self.prompt_prefix + prompt, "max_tokens": max_new_tokens,
                             "temperature": 0.0, "stop": [stop]})
        try:
            return str(answer["choices"][0]["text"]).split(stop, 1)[0]
        except (KeyError, IndexError, TypeError) as exc:
            raise EndpointError(f"{self.url}: no completion text in the answer") from exc

    # ---- internals ------------------------------------------------------------------------------
    def _score_one(self, prompt: str, text: str) -> TextScore:
        full = self.prompt_prefix + prompt + text
        answer = self._post({"prompt": full, "max_tokens": 1, "temperature": 0.0,
                             "echo": True, "logprobs": 1})
        try:
            return candidate_logprob(answer["choices"][0], full, text,
                                     prefix_chars=len(self.prompt_prefix))
        except ValueError as exc:
            raise EndpointError(f"{self.url}: {exc}") from exc
        except (KeyError, IndexError, TypeError) as exc:
            raise EndpointError(f"{self.url}: the answer has no prompt logprobs (does the "
                                "server support echo with logprobs?)") from exc

    def _post(self, body: dict[str, Any]) -> dict[str, Any]:
        if self.model:
            body = {**body, "model": self.model}
        headers = {"Content-Type": "application/json"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        request = urllib.request.Request(self.url, data=json.dumps(body).encode(),
                                         headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                return json.loads(response.read().decode())
        except TimeoutError as exc:
            raise EndpointError(f"language model endpoint {self.url} timed out after "
                                f"{self.timeout_s:.1f} s") from exc
        except urllib.error.HTTPError as exc:
            detail = exc.read()[:200].decode(errors="replace")
            raise EndpointError(f"language model endpoint {self.url} answered HTTP "
                                f"{exc.code}: {detail}") from exc
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, TimeoutError):
                raise EndpointError(f"language model endpoint {self.url} timed out after "
                                    f"{self.timeout_s:.1f} s") from exc
            raise EndpointError(f"language model endpoint {self.url} is unreachable: "
                                f"{exc.reason}") from exc
        except (OSError, ValueError) as exc:  # connection reset, bad JSON
            raise EndpointError(f"language model endpoint {self.url} failed: {exc}") from exc


def candidate_logprob(choice: dict[str, Any], full: str, candidate: str,
                      prefix_chars: int = 0) -> TextScore:
    """Sum of the log-probabilities of `candidate`'s tokens in an echo answer for `full`.

    `full` (which ends with `candidate`) may have its first `prefix_chars` characters left out of
    the server's text offsets (llama-cpp-python strips a leading BOS token); the candidate's
    tokens are the ones whose offsets fall in its span and which spell it exactly.
    """
    logprobs = choice["logprobs"]
    offsets, values, tokens = (logprobs["text_offset"], logprobs["token_logprobs"],
                               logprobs["tokens"])
    if not (len(offsets) == len(values) == len(tokens)) or not tokens:
        raise ValueError("the answer's tokens, offsets and log-probabilities do not line up")
    if not str(choice.get("text", full)).startswith(full):
        raise ValueError("the answer does not echo the prompt")
    for origin in dict.fromkeys((0, prefix_chars)):
        start, end = len(full) - len(candidate) - origin, len(full) - origin
        inside = [i for i, offset in enumerate(offsets)
                  if offset is not None and start <= offset < end]
        if inside and "".join(tokens[i] for i in inside) == candidate:
            break
    else:
        raise ValueError(f"no tokens spelling {candidate!r} at the end of the echoed prompt "
                         f"(last tokens {tokens[-5:]!r})")
    scores = [values[i] for i in inside]
    if any(v is None or not math.isfinite(float(v)) for v in scores):
        raise ValueError("missing log-probability for a candidate token")
    return TextScore(sum(float(v) for v in scores), len(scores))
