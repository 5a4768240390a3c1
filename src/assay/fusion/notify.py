"""Word that a picture has a new version, sent to whoever follows it on this machine.

A follower (`assay feed`) binds a UDP socket on loopback and leaves its port in
``.assay/run/pictures/NAME/PID.port``; `announce` (called by `pictures.save`) sends one datagram
to each, so a feed publishes a new version as soon as it is saved instead of at its next look.
A follower that died leaves a file whose process is gone: the next `announce` removes it.
Polling stays the fallback (a writer on another machine, a lost datagram): word only makes it
sooner.

Example:
    >>> import asyncio, tempfile
    >>> from pathlib import Path
    >>> root = Path(tempfile.mkdtemp())
    >>> async def main() -> bool:
    ...     async with Listener(root, "flood") as heard:
    ...         announce(root, "flood")
    ...         return await heard.wait(5)
    >>> asyncio.run(main())
    True
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from pathlib import Path
from types import TracebackType

from assay.store._repack import _alive

__all__ = ["Listener", "announce"]


def _folder(root: Path, name: str) -> Path:
    return root / "run" / "pictures" / name


def announce(root: Path, name: str) -> int:
    """Tell every follower of picture `name` under workspace `root` that it moved on; returns
    how many were told. Never raises: word is a hint, the picture is already saved."""
    folder = _folder(root, name)
    try:
        entries = list(folder.iterdir())
    except OSError:
        return 0
    told = 0
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for f in entries:
            pid, _, ext = f.name.partition(".")
            if ext != "port" or not pid.isdigit():
                continue
            if not _alive(int(pid)):
                with contextlib.suppress(OSError):
                    f.unlink()
                continue
            try:
                port = int(f.read_text())
                sock.sendto(name.encode(), ("127.0.0.1", port))
                told += 1
            except (OSError, ValueError):
                continue
    return told


class _Heard(asyncio.DatagramProtocol):
    def __init__(self, event: asyncio.Event) -> None:
        self.event = event

    def datagram_received(self, data: bytes, addr: tuple[str | object, int]) -> None:
        self.event.set()


class Listener:
    """`async with Listener(root, name) as heard: await heard.wait(timeout)`: True when word
    came (since the last wait), False on timeout."""

    def __init__(self, root: Path, name: str) -> None:
        self.file = _folder(root, name) / f"{os.getpid()}.port"
        self.event = asyncio.Event()
        self.transport: asyncio.DatagramTransport | None = None

    async def __aenter__(self) -> Listener:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _Heard(self.event), local_addr=("127.0.0.1", 0)
        )
        self.transport = transport
        port = transport.get_extra_info("sockname")[1]
        try:
            self.file.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.file.with_suffix(".tmp")
            tmp.write_text(str(port))
            tmp.replace(self.file)
        except OSError:  # a read-only workspace: polling alone
            pass
        return self

    async def wait(self, timeout: float) -> bool:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.event.wait(), timeout)
        heard = self.event.is_set()
        self.event.clear()
        return heard

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        with contextlib.suppress(OSError):
            self.file.unlink()
        if self.transport is not None:
            self.transport.close()
