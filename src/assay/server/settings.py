"""Server settings: a plain value passed to `create_app`, never read at import time."""

from __future__ import annotations

from dataclasses import dataclass, field

from assay.labeling.sessions import LoginPolicy


@dataclass(frozen=True)
class Settings:
    """How the labeling server runs.

    Attributes:
        host: Address to bind.
        port: TCP port.
        workers: uvicorn worker processes (several only on PostgreSQL; SQLite has one writer).
        secure_cookies: Mark the session cookie Secure (set it when serving over HTTPS).
        login: Login rate limit and session lifetime.
        checkpoint_seconds: How often the server signs a checkpoint of the audit head
            (only when it moved), kept with the witness beside the audit key.
        max_body_bytes: Largest request body accepted (413 beyond it).
        max_json_depth: Deepest nesting of arrays and objects in a JSON body (422 beyond it).
        max_streams_per_user: Live streams (a picture's server-sent events) one user holds
            open at once in one server process (429 beyond it); above a browser's six
            connections to a host, so a user's tabs are never the ones refused.
    """

    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    secure_cookies: bool = False
    login: LoginPolicy = field(default_factory=LoginPolicy)
    checkpoint_seconds: float = 10.0
    max_body_bytes: int = 4 << 20
    max_json_depth: int = 32
    max_streams_per_user: int = 8
