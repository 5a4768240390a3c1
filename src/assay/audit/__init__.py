"""The hash-chained, signed audit trail.

Every state change appends one event inside the same transaction as the change. Each
event's hash covers its content and the previous event's hash, and events are signed
(Ed25519) with a key kept outside the database — each one, or a group commit's newest,
which binds the rest — so `verify` finds the first event that was edited, inserted,
removed or forged. Signed checkpoints kept outside the database (the
witness folder beside the key, files users keep) reveal events cut off the end. Account
state (users, tokens, sessions) is replayed from the trail and compared with the tables.
"""

from assay.audit._chain import AuditEvent, append, events, lock_trail, seal
from assay.audit._checkpoint import Checkpoint
from assay.audit._keys import KEY_ENV, key_path, trusted_keys
from assay.audit._keys import signer as signing_key
from assay.audit._ops import checkpoint, checkpoint_if_new, rotate_key, verify_with_witness
from assay.audit._state import fingerprint
from assay.audit._sums import marking_sum
from assay.audit._verify import VerifyResult, verify

__all__ = [
    "KEY_ENV",
    "AuditEvent",
    "Checkpoint",
    "VerifyResult",
    "append",
    "checkpoint",
    "checkpoint_if_new",
    "events",
    "fingerprint",
    "key_path",
    "lock_trail",
    "marking_sum",
    "rotate_key",
    "seal",
    "signing_key",
    "trusted_keys",
    "verify",
    "verify_with_witness",
]
