"""Thumbnails: made once per item, content-addressed in the blob store, served from there.

A thumbnail is a JPEG whose longer side is at most `SIZE` pixels, keyed by the item's
sha256 and the recipe version, so the same bytes never get a second one.
"""

from __future__ import annotations

import io

from assay.errors import InvalidInput
from assay.explore._derived import derived_blob
from assay.labeling import get_item
from assay.labeling.users import User
from assay.workspace import Workspace

SIZE = 256
KIND = f"thumb/jpeg-{SIZE}/v1"


def render_thumbnail(data: bytes, size: int = SIZE) -> bytes:
    """A JPEG of at most `size` pixels on its longer side."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as img:
            img.draft("RGB", (size, size))  # JPEG decodes at a fraction of full size
            small = img.convert("RGB")
            small.thumbnail((size, size))
    except (UnidentifiedImageError, OSError) as exc:
        raise InvalidInput(f"cannot make a thumbnail: not a readable image ({exc})") from None
    out = io.BytesIO()
    small.save(out, format="JPEG", quality=80, optimize=True)
    return out.getvalue()


def thumbnail(ws: Workspace, user: User, item_id: str) -> bytes:
    """The item's thumbnail (made on first request); hidden and missing items are 404."""
    item = get_item(ws, user, item_id)
    if not str(item["media_type"]).startswith("image/"):
        raise InvalidInput(f"item {item_id[:16]!r} is {item['media_type']}, not an image")
    sha = derived_blob(ws, KIND, item_id, lambda: render_thumbnail(ws.blobs.get_bytes(item_id)))
    return ws.blobs.get_bytes(sha)
