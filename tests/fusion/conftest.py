"""The live-fusion tests' peers (see feed_peers)."""

from feed_peers import cot_client, taky

__all__ = ["cot_client", "taky"]
