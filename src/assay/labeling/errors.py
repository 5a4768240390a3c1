"""Errors the labeling services add to the hierarchy in `assay.errors`."""

from __future__ import annotations

from assay.errors import AssayError


class NotAuthenticated(AssayError):
    """No valid session or token; log in first."""

    http_status = 401


class RateLimited(AssayError):
    """Too many attempts in a short time; wait and retry."""

    http_status = 429
