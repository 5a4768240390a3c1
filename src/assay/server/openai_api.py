"""`create_llm_app`: one language model behind OpenAI-compatible routes, marking enforced.

Routes: ``GET /v1/models``, ``GET /v1/models/{id}``, ``POST /v1/chat/completions`` and
``POST /v1/completions``. Every request carries ``Authorization: Bearer TOKEN`` (an assay
API token, read fresh each time so a revocation counts at once; a token made with scopes
needs ``serve``, `assay.server.token_scopes`). A holder whose clearance
is below the model's marking is told the model does not exist, exactly as for a name that
is not served. Errors are OpenAI-shaped JSON: ``{"error": {"message", "type", "param",
"code"}}``; ``stream=true`` answers as server-sent events, the whole answer in one chunk.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from assay.domain.marking import Marking
from assay.errors import AssayError, InvalidInput, NotFound, Unauthenticated
from assay.labeling.users import User, user_for_token
from assay.models._llm import Batcher, Generation, GenRequest
from assay.server import token_scopes
from assay.server._hardening import harden, not_json_sent
from assay.server.openai_models import (
    MAX_N,
    AssistantMessage,
    ChatChoice,
    ChatCompletion,
    ChatRequest,
    Completion,
    CompletionChoice,
    CompletionRequest,
    ErrorBody,
    ModelCard,
    ModelList,
    Usage,
)
from assay.server.settings import Settings
from assay.workspace import Workspace

DEFAULT_CHAT_TOKENS = 256
PROMPT_BATCHES = 4  # a request's answers fill at most this many of the model's batches
BATCH_HEADER = "x-assay-batch-size"  # how many requests shared this answer's forward passes
_ERRORS: dict[int | str, dict[str, Any]] = {
    s: {"model": ErrorBody} for s in (400, 401, 403, 404, 500)
}


@dataclass(frozen=True)
class ServedModel:
    """What the routes serve: the model's id (``NAME@VERSION``), other names, its marking."""

    id: str
    aliases: tuple[str, ...]
    marking: Marking
    batcher: Batcher
    created: int


def _payload(message: str, kind: str, code: str | None, param: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def _error(
    status: int, message: str, kind: str, code: str | None, param: str | None = None
) -> JSONResponse:
    return JSONResponse(_payload(message, kind, code, param), status_code=status)


def _refusal(status: int, message: str) -> tuple[int, dict[str, Any]]:
    """A body refused by `Hardening`, in OpenAI's error shape (a too-deep body: 400)."""
    return (400 if status == 422 else status), _payload(message, "invalid_request_error", None)


def create_llm_app(ws: Workspace, served: ServedModel) -> FastAPI:
    """The app for `served`, authenticating against `ws`'s users and API tokens."""
    app = FastAPI(title="assay model server", docs_url=None, redoc_url=None)
    # Bodies are bounded before anything reads them: FastAPI parses a body before the
    # route asks for the token, so unbounded, a stranger could make it hold any amount.
    limits = Settings()
    harden(app, limits.max_body_bytes, limits.max_json_depth, _refusal)
    lm = served.batcher.model
    most = max_answers(served.batcher.max_batch)

    def holder(request: Request) -> User:
        auth = request.headers.get("authorization", "")
        if not auth.lower().startswith("bearer ") or not auth[7:].strip():
            raise Unauthenticated("send an assay API token: Authorization: Bearer TOKEN")
        token = auth[7:].strip()
        user = user_for_token(ws, token)
        if user is None:
            raise Unauthenticated("the API token is unknown, expired or revoked")
        token_scopes.check(request, user, token)
        return user

    def visible(user: User) -> bool:
        return ws.scheme.allows(user.clearance, served.marking)

    def pick(user: User, name: str) -> str:
        if name not in (served.id, *served.aliases) or not visible(user):
            raise NotFound(f"the model {name!r} does not exist or you do not have access to it")
        return served.id

    @app.exception_handler(AssayError)
    async def assay_error(request: Request, exc: AssayError) -> JSONResponse:
        if isinstance(exc, token_scopes.ScopeDenied):
            await run_in_threadpool(exc.record, ws)
        status = 400 if exc.http_status == 422 else exc.http_status
        kind, code = {
            401: ("authentication_error", "invalid_api_key"),
            403: ("permission_error", "insufficient_scope"),
            404: ("invalid_request_error", "model_not_found"),
        }.get(status, ("invalid_request_error", None))
        return _error(status, str(exc), kind, code)

    @app.exception_handler(RequestValidationError)
    async def bad_body(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0]
        where = [str(p) for p in first.get("loc", ()) if p != "body"]
        param = ".".join(where) or None
        if first.get("type") == "json_invalid":
            return _error(400, "the request body is not valid JSON", "invalid_request_error", None)
        sent = not_json_sent(request.headers.get("content-type", ""))
        if sent is not None:
            return _error(
                400,
                "the request body must be JSON sent with Content-Type: application/json "
                f"(this request had {sent})",
                "invalid_request_error",
                None,
            )
        if first.get("type") == "extra_forbidden":
            msg = f"{param}: not supported by this server"
        else:
            msg = f"{param or 'body'}: {first.get('msg', 'invalid')}"
        return _error(400, msg, "invalid_request_error", None, param)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = "not_found" if exc.status_code == 404 else None
        return _error(exc.status_code, str(exc.detail), "invalid_request_error", code)

    @app.get("/v1/models", response_model=ModelList, responses=_ERRORS)
    def models(request: Request) -> ModelList:
        user = holder(request)
        cards = [ModelCard(id=served.id, created=served.created)] if visible(user) else []
        return ModelList(data=cards)

    @app.get("/v1/models/{name}", response_model=ModelCard, responses=_ERRORS)
    def model(name: str, request: Request) -> ModelCard:
        return ModelCard(id=pick(holder(request), name), created=served.created)

    def run(reqs: list[GenRequest], response: Response) -> list[Generation]:
        futures = [served.batcher.submit(r) for r in reqs]  # all checked before any runs
        gens = [f.result() for f in futures]
        response.headers[BATCH_HEADER] = str(max(g.batch for g in gens))
        return gens

    def usage(gens: list[Generation]) -> Usage:
        p = sum(g.prompt_tokens for g in gens)
        c = sum(g.completion_tokens for g in gens)
        return Usage(prompt_tokens=p, completion_tokens=c, total_tokens=p + c)

    @app.post("/v1/chat/completions", response_model=ChatCompletion, responses=_ERRORS)
    def chat(body: ChatRequest, request: Request, response: Response) -> Any:
        model_id = pick(holder(request), body.model)
        ids = lm.chat_prompt([{"role": m.role, "content": m.text()} for m in body.messages])
        limit = body.max_completion_tokens or body.max_tokens
        if limit is None:
            limit = max(1, min(DEFAULT_CHAT_TOKENS, lm.context - len(ids)))
        req = GenRequest(ids, limit, body.temperature, body.top_p, body.stops(), body.seed)
        gens = run(_samples(req, body.n), response)
        out = ChatCompletion(
            id=f"chatcmpl-{uuid.uuid4().hex}",
            created=int(time.time()),
            model=model_id,
            choices=[
                ChatChoice(
                    index=i, message=AssistantMessage(content=g.text), finish_reason=g.finish_reason
                )
                for i, g in enumerate(gens)
            ],
            usage=usage(gens),
        )
        if body.stream:
            return _stream(_chat_chunks(out))
        return out

    @app.post("/v1/completions", response_model=Completion, responses=_ERRORS)
    def complete(body: CompletionRequest, request: Request, response: Response) -> Any:
        model_id = pick(holder(request), body.model)
        prompts = [body.prompt] if isinstance(body.prompt, str) else body.prompt
        if not prompts:
            raise InvalidInput("prompt: give at least one prompt")
        if len(prompts) * body.n > most:
            # Checked before a prompt is encoded: a list of many tiny prompts in a 4 MB body
            # would otherwise hold the model for everyone else.
            return _error(
                400,
                f"prompt: at most {most} answers (prompts x n) per request on this server, "
                f"this one asks for {len(prompts)} x {body.n}; split it into several requests",
                "invalid_request_error",
                None,
                "prompt",
            )
        reqs = [
            sample
            for p in prompts
            for sample in _samples(
                GenRequest(
                    lm.encode(p),
                    body.max_tokens,
                    body.temperature,
                    body.top_p,
                    body.stops(),
                    body.seed,
                ),
                body.n,
            )
        ]
        gens = run(reqs, response)
        out = Completion(
            id=f"cmpl-{uuid.uuid4().hex}",
            created=int(time.time()),
            model=model_id,
            choices=[
                CompletionChoice(index=i, text=g.text, finish_reason=g.finish_reason)
                for i, g in enumerate(gens)
            ],
            usage=usage(gens),
        )
        if body.stream:
            return _stream(_completion_chunks(out))
        return out

    app.state.token_scopes = token_scopes.bind(
        [("", r) for r in app.routes], token_scopes.MODEL_SCOPES
    )
    return app


def max_answers(max_batch: int) -> int:
    """The most answers (prompts x n) one request may ask for: `PROMPT_BATCHES` full
    batches, and never fewer than the largest n (so one prompt with any n is answered)."""
    return max(MAX_N, max_batch * PROMPT_BATCHES)


def _samples(req: GenRequest, n: int) -> list[GenRequest]:
    """`n` samples of `req`. With a seed the k-th is seeded ``seed + k`` (as `eval llm` seeds
    its epochs): the choices differ from each other, and the same request repeats them."""
    if req.seed is None:
        return [req] * n
    return [replace(req, seed=req.seed + k) for k in range(n)]


def _stream(events: Iterator[dict[str, Any]]) -> StreamingResponse:
    def lines() -> Iterator[str]:
        for e in events:
            yield f"data: {json.dumps(e)}\n\n"
        yield "data: [DONE]\n\n"

    return StreamingResponse(lines(), media_type="text/event-stream")


def _chat_chunks(out: ChatCompletion) -> Iterator[dict[str, Any]]:
    head = {
        "id": out.id,
        "object": "chat.completion.chunk",
        "created": out.created,
        "model": out.model,
    }
    for c in out.choices:
        delta = {"role": "assistant", "content": c.message.content}
        yield {**head, "choices": [{"index": c.index, "delta": delta, "finish_reason": None}]}
        yield {
            **head,
            "choices": [{"index": c.index, "delta": {}, "finish_reason": c.finish_reason}],
        }


def _completion_chunks(out: Completion) -> Iterator[dict[str, Any]]:
    head = {"id": out.id, "object": "text_completion", "created": out.created, "model": out.model}
    for c in out.choices:
        yield {
            **head,
            "choices": [{"index": c.index, "text": c.text, "finish_reason": c.finish_reason}],
        }
