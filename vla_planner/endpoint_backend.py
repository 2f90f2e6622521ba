"""Scoring through an OpenAI-compatible completions endpoint (llama.cpp's server, vLLM, ...).

For users whose model runs on another machine or a GPU server. log p(candidate | prompt) comes
from the prompt log-probabilities such servers return with `echo: true, logprobs: N`: we send
prompt + candidate, and sum the log-probabilities of the tokens that start at or after the end
of the prompt. The server must tokenise the prompt/candidate boundary the way the model would
(candidates start with a space, prompts end in "N.", so the boundary is a token boundary for
the BPE vocabularies we know).
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
    bearer token; default $VLA_LM_API_KEY (never logged).
    """

    def __init__(self, base_url: str, model: str = "", timeout_s: float = 10.0,
                 api_key: str | None = None) -> None:
        if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
            raise ValueError(f"endpoint URL must start with http:// or https://: {base_url!r}")
        if not timeout_s > 0:
            raise ValueError(f"timeout_s must be > 0, got {timeout_s}")
        root = base_url.rstrip("/")
        self.url = (root if root.endswith("/v1") else root + "/v1") + "/completions"
        self.model = model
        self.timeout_s = timeout_s
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
        answer = self._post({"prompt": prompt, "max_tokens": max_new_tokens,
                             "temperature": 0.0, "stop": [stop]})
        try:
            return str(answer["choices"][0]["text"]).split(stop, 1)[0]
        except (KeyError, IndexError, TypeError) as exc:
            raise EndpointError(f"{self.url}: no completion text in the answer") from exc

    # ---- internals ------------------------------------------------------------------------------
    def _score_one(self, prompt: str, text: str) -> TextScore:
        full = prompt + text
        answer = self._post({"prompt": full, "max_tokens": 1, "temperature": 0.0,
                             "echo": True, "logprobs": 1})
        try:
            logprobs = answer["choices"][0]["logprobs"]
            offsets = logprobs["text_offset"]
            values = logprobs["token_logprobs"]
        except (KeyError, IndexError, TypeError) as exc:
            raise EndpointError(f"{self.url}: the answer has no prompt logprobs (does the "
                                "server support echo with logprobs?)") from exc
        total, count = 0.0, 0
        for offset, value in zip(offsets, values, strict=False):
            if offset is None or offset < len(prompt) or offset >= len(full):
                continue  # prompt tokens, and the one generated token after the candidate
            if value is None or not math.isfinite(float(value)):
                raise EndpointError(f"{self.url}: missing log-probability for a candidate token")
            total += float(value)
            count += 1
        if count == 0:
            raise EndpointError(f"{self.url}: no candidate tokens found after the prompt "
                                f"(offsets {offsets[-5:]!r})")
        return TextScore(total, count)

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
