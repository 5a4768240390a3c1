"""Any OpenAI-compatible HTTP endpoint (assay serve-model, vLLM, llama.cpp server, Ollama)."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from assay.errors import InvalidInput, require
from assay.models.llm._types import (
    EndpointError,
    Generation,
    GenerationParams,
    Prompt,
    cut_at_stop,
    prompt_json,
)

_RETRY_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}


class EndpointGenerator:
    """Prompts sent to ``{url}/chat/completions`` (chat prompts) or ``{url}/completions``
    (plain text), ``concurrency`` requests at a time.

    Timeouts, refused connections and answers 408/429/5xx are retried ``retries`` times with
    exponential backoff; anything else (a 4xx, an answer that is not JSON or lacks
    ``choices``) fails at once. The first failure stops the batch with one `EndpointError`
    naming the URL and the cause, and the caller writes nothing.

    Args:
        url: The API base, e.g. ``http://127.0.0.1:8000/v1`` (a trailing ``/v1`` is added when
            missing).
        model: The model name sent in each request (default ``default``).
        api_key: Sent as a bearer token when given.
        concurrency: Requests in flight at once.
        timeout: Seconds for one request.
        retries: Further attempts after a retryable failure.
    """

    def __init__(
        self,
        url: str,
        *,
        model: str = "default",
        api_key: str | None = None,
        concurrency: int = 4,
        timeout: float = 60.0,
        retries: int = 2,
        backoff: float = 0.5,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise InvalidInput(f"endpoint {url!r}: give an http:// or https:// URL")
        base = url.rstrip("/")
        self.url = base if base.endswith("/v1") else base + "/v1"
        if concurrency < 1 or timeout <= 0 or retries < 0:
            raise InvalidInput("endpoint: concurrency >= 1, timeout > 0 and retries >= 0")
        self.model = model
        self.api_key = api_key
        self.concurrency = concurrency
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff

    @property
    def identity(self) -> str:
        return f"endpoint:{self.url}#{self.model}"

    def describe(self) -> dict[str, Any]:
        return {"kind": "endpoint", "name": self.model, "url": self.url, "sha256": None}

    def generate(self, prompts: Sequence[Prompt], params: GenerationParams) -> list[Generation]:
        if not prompts:
            return []
        httpx: Any = require("httpx", "llm")
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        limits = httpx.Limits(max_connections=self.concurrency)
        with (
            # trust_env=False: directly to the server the user named, never through a proxy
            # from the environment (HTTP_PROXY would be handed every prompt).
            httpx.Client(
                timeout=self.timeout, headers=headers, limits=limits, trust_env=False
            ) as client,
            ThreadPoolExecutor(self.concurrency) as pool,
        ):
            futures = [pool.submit(self._one, client, p, params) for p in prompts]
            try:
                return [f.result() for f in futures]
            except BaseException:
                for f in futures:
                    f.cancel()
                raise

    def _body(self, prompt: Prompt, params: GenerationParams) -> tuple[str, dict[str, Any]]:
        body: dict[str, Any] = {
            "model": self.model,
            "max_tokens": params.max_new_tokens,
            "temperature": params.temperature,
            "top_p": params.top_p,
            "seed": params.seed,
        }
        if params.stop:
            body["stop"] = list(params.stop)
        if isinstance(prompt, str):
            return f"{self.url}/completions", {**body, "prompt": prompt}
        return f"{self.url}/chat/completions", {**body, "messages": prompt_json(prompt)}

    def _one(self, client: Any, prompt: Prompt, params: GenerationParams) -> Generation:
        import httpx

        target, body = self._body(prompt, params)
        cause = ""
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff * 2 ** (attempt - 1))
            t0 = time.perf_counter()
            try:
                resp = client.post(target, json=body)
            except httpx.TimeoutException:
                cause = f"no answer within {self.timeout:g} s"
                continue
            except httpx.TransportError as exc:
                cause = f"cannot connect ({exc.__class__.__name__}: {exc})"
                continue
            latency = time.perf_counter() - t0
            if resp.status_code in _RETRY_STATUS:
                cause = f"answered HTTP {resp.status_code}"
                continue
            if resp.status_code >= 400:
                raise EndpointError(
                    f"endpoint {target}: answered HTTP {resp.status_code}: {resp.text[:200]}"
                )
            return self._parse(target, resp.text, latency, params, chat=not isinstance(prompt, str))
        tries = self.retries + 1
        raise EndpointError(
            f"endpoint {target}: {cause} (tried {tries} time{'s' if tries > 1 else ''}); "
            "check that the server runs, or raise --timeout"
        )

    @staticmethod
    def _parse(
        target: str, text: str, latency: float, params: GenerationParams, *, chat: bool
    ) -> Generation:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise EndpointError(
                f"endpoint {target}: answer is not valid JSON ({exc.msg} at char {exc.pos}): "
                f"{text[:120]!r}"
            ) from None
        try:
            choice = data["choices"][0]
            out = choice["message"]["content"] if chat else choice["text"]
            if not isinstance(out, str):
                raise TypeError("content is not a string")
        except (KeyError, IndexError, TypeError) as exc:
            field = "choices[0].message.content" if chat else "choices[0].text"
            raise EndpointError(
                f"endpoint {target}: answer lacks {field} ({exc.__class__.__name__}: {exc})"
            ) from None
        usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
        out, stopped = cut_at_stop(out, params.stop)
        finish = choice.get("finish_reason") if isinstance(choice, dict) else None
        return Generation(
            text=out,
            latency_s=latency,
            prompt_tokens=_int(usage.get("prompt_tokens")),
            completion_tokens=_int(usage.get("completion_tokens")),
            finish_reason="stop" if stopped else (finish if isinstance(finish, str) else None),
        )


def _int(v: Any) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) else None
