"""The browser and HTTP tests' in-process server (labeling_world.LiveServer) holds its port from
the moment it is made: nothing else (another xdist worker's server, an outgoing connection)
can take the port before the server listens on it."""

from __future__ import annotations

import socket

import httpx
import pytest

from assay.server import Settings, create_app
from labeling_world import LiveServer, World


def test_the_port_is_held_from_the_start_and_served(world: World) -> None:
    server = LiveServer(create_app(Settings(), world.ws))
    with socket.socket() as other, pytest.raises(OSError):
        other.bind(("127.0.0.1", server.port))  # taken already: no other server gets it
    with server as url:
        assert httpx.get(f"{url}/login").status_code == 200
