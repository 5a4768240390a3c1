"""Persistence behind small seams: the metadata database, blobs and manifests."""

from assay.store.blobs import BlobStore, LocalBlobStore, sha256_file
from assay.store.database import Database

__all__ = ["BlobStore", "Database", "LocalBlobStore", "sha256_file"]
