"""Live outputs of fused pictures: Cursor-on-Target to TAK (TCP, UDP), NATS JetStream, and the
queues behind the server's GeoJSON server-sent events; each subscription with a clearance.

`cot` writes CoT events, `shapes` the GeoJSON and Lattice-shaped JSON of an entity,
`publish` the clearance-filtered diffing feed, `sinks` its transports (NATS with the `feeds`
extra), `follow` the loop behind `assay feed`.
"""

from __future__ import annotations

from assay.feeds.cot import delete_event, entity_event, event_uid
from assay.feeds.publish import Feed, PublishStats, QueueSink, Subscription, Update, visible
from assay.feeds.shapes import entity_feature, entity_payload, lattice_entity

__all__ = [
    "Feed",
    "PublishStats",
    "QueueSink",
    "Subscription",
    "Update",
    "delete_event",
    "entity_event",
    "entity_feature",
    "entity_payload",
    "event_uid",
    "lattice_entity",
    "visible",
]
