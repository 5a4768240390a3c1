"""One ASGI layer in front of the app: security headers, bounded bodies, bounded JSON depth.

Plain ASGI rather than Starlette's `BaseHTTPMiddleware`: it adds no task or queue per request
on the hot routes. A body is refused before any route (or the JSON parser) sees it:

- larger than `max_body_bytes` (by ``Content-Length`` or as it streams in): 413;
- a JSON body nested deeper than `max_json_depth`: 422. Python's parser and encoders recurse,
  so one deep value would otherwise cost a stack overflow (500) wherever it is read again.

Every response carries a Content-Security-Policy that lets pages load only this server's own
files (no inline script or style, no framing) and the usual companion headers.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
SECURITY_HEADERS: list[tuple[bytes, bytes]] = [
    (b"content-security-policy", CSP.encode()),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
]
_OURS = {name for name, _ in SECURITY_HEADERS}

_PAIR = re.compile(rb"\[\]|\{\}")
_NOT_BRACKETS = bytes(range(256)).translate(None, b"[]{}")


def too_deep(body: bytes, limit: int) -> bool:
    """True when the JSON text `body` nests arrays/objects deeper than `limit`.

    Works on the text without parsing it (the parser is what must not recurse), with C-speed
    byte operations only: escaped backslashes and quotes are dropped, the text between
    quotes (the strings) is dropped, everything but brackets is dropped, then innermost
    empty pairs are removed once per level. Malformed text is left for the parser to report.

    Example:
        >>> too_deep(b'{"a": [[1, "]]]"]]}', 3), too_deep(b'{"a": [[1]]}', 2)
        (False, True)
        >>> too_deep(b'[["\\\\", "\\"]", [[]]]]', 3)
        True
    """
    if body.count(b"[") + body.count(b"{") <= limit:
        return False
    plain = body.replace(b"\\\\", b"").replace(b'\\"', b"")
    rest = b"".join(plain.split(b'"')[::2]).translate(None, _NOT_BRACKETS)
    for _ in range(limit):
        if not rest:
            return False
        shorter = _PAIR.sub(b"", rest)
        if shorter == rest:
            return False  # unbalanced: not JSON, and the parser says so
        rest = shorter
    return bool(rest)


Refusal = Callable[[int, str], tuple[int, dict[str, Any]]]


def assay_refusal(status: int, error: str) -> tuple[int, dict[str, Any]]:
    """assay's own error shape, ``{"error": "..."}``."""
    return status, {"error": error}


def harden(
    app: Any, max_body_bytes: int, max_json_depth: int, refusal: Refusal | None = None
) -> None:
    """Put `Hardening` around a FastAPI app's whole stack, outside Starlette's error
    middleware, so that even a 500 carries the security headers and no body reaches anything
    (the JSON parser, authentication) unchecked."""
    build = app.build_middleware_stack

    def hardened() -> Any:
        return Hardening(build(), max_body_bytes, max_json_depth, refusal or assay_refusal)

    app.build_middleware_stack = hardened


class Hardening:
    """The ASGI wrapper (see the module docstring). `refusal` shapes the status and JSON
    body of a refused request (the OpenAI-compatible server answers in OpenAI's shape)."""

    def __init__(
        self,
        app: ASGIApp,
        max_body_bytes: int,
        max_json_depth: int,
        refusal: Refusal = assay_refusal,
    ) -> None:
        self.app = app
        self.max_body = max_body_bytes
        self.max_depth = max_json_depth
        self.refusal = refusal

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_secured(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() not in _OURS]
                message["headers"] = headers + SECURITY_HEADERS
            await send(message)

        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body:
            await self._refuse(send_secured, 413, self._too_large())
            return
        if scope.get("method") in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send_secured)
            return
        body, more = await self._read(receive)
        if body is None:
            await self._refuse(send_secured, 413, self._too_large())
            return
        ctype = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
        is_json = ctype == b"application/json" or ctype.endswith(b"+json")
        if is_json and too_deep(body, self.max_depth):
            msg = f"request body: JSON nested deeper than {self.max_depth} levels"
            await self._refuse(send_secured, 422, msg)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await more()

        await self.app(scope, replay, send_secured)

    async def _read(self, receive: Receive) -> tuple[bytes | None, Receive]:
        """The whole body (None when it grows past the limit) and what to receive afterwards."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                # the client went away: hand the disconnect on to whoever asks next
                async def gone(message: Message = message) -> Message:
                    return message

                return b"".join(chunks), gone
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                return None, receive
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks), receive

    def _too_large(self) -> str:
        return f"request body too large (the limit is {self.max_body} bytes)"

    async def _refuse(self, send: Send, status: int, error: str) -> None:
        await _refuse(send, *self.refusal(status, error))


async def _refuse(send: Send, status: int, payload: dict[str, Any]) -> None:
    body = json.dumps(payload).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def not_json_sent(content_type: str) -> str | None:
    """What a request declared instead of a JSON body (None when it declared JSON): FastAPI
    reads no other body as JSON, and its "a valid dictionary" does not say what to change."""
    media = content_type.split(";")[0].strip().lower()
    if media == "application/json" or media.endswith("+json"):
        return None
    return f"Content-Type {content_type!r}" if content_type else "no Content-Type"
