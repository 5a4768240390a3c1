"""The feed tests' peers (see feed_peers)."""

from feed_peers import cot_client, nats_server, taky, udp_listener

__all__ = ["cot_client", "nats_server", "taky", "udp_listener"]
