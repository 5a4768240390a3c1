"""The hash-chained audit trail.

Every state change appends one event inside the same transaction as the
change. Each event's hash covers its content and the previous event's hash,
so `verify` finds the first event that was edited, inserted or removed.
"""

from assay.audit._chain import AuditEvent, VerifyResult, append, events, verify

__all__ = ["AuditEvent", "VerifyResult", "append", "events", "verify"]
