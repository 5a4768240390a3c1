"""Persistence behind small seams: the metadata database, blobs and manifests."""

from assay.store.blobs import BlobStore, CollectReport, LocalBlobStore, open_blobs, sha256_file
from assay.store.database import Database

__all__ = ["BlobStore", "CollectReport", "Database", "LocalBlobStore", "open_blobs", "sha256_file"]
