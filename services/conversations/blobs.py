"""Attachment bytes, kept outside the database in a content-addressed store.

A blob's key is the SHA-256 of its bytes, so storing the same file twice keeps one copy
and a key can never point at other bytes. :class:`FolderBlobs` keeps them under a folder
(``<root>/ab/cd/<sha256>``), written to a temporary name, fsynced and renamed, so a crash
leaves either the whole blob or none. Another store (S3-compatible, say) only has to offer
the same three methods. Blobs written for a transaction that then rolled back are orphans,
harmless; the retention service's housekeeping may remove unreferenced ones.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import Any, Protocol

from nameko.extensions import DependencyProvider

from services.chassis.errors import NotFound


class BlobStore(Protocol):
    def put(self, data: bytes) -> str:
        """Store ``data``; returns its key (the SHA-256 in hex)."""
        ...

    def get(self, key: str) -> bytes:
        """The bytes under ``key``; NotFound when there are none."""
        ...

    def delete(self, key: str) -> None:
        """Forget ``key`` (nothing happens when it is unknown)."""
        ...


def blob_key(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class FolderBlobs:
    """Blobs as files under ``root``."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        if len(key) != 64 or not all(c in "0123456789abcdef" for c in key):
            raise NotFound("no such attachment content")
        return self.root / key[:2] / key[2:4] / key

    def put(self, data: bytes) -> str:
        key = blob_key(data)
        path = self._path(key)
        if path.exists():
            return key
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        folder = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)
        return key

    def get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            raise NotFound("no such attachment content") from None

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)


def blob_root(config: dict[str, Any]) -> Path:
    """``BLOB_DIR`` from the service's config, else ``$HELPDESK_DATA_DIR/blobs`` (``var/blobs``)."""
    configured = config.get("BLOB_DIR")
    if configured:
        return Path(str(configured))
    return Path(os.environ.get("HELPDESK_DATA_DIR") or "var") / "blobs"


class Blobs(DependencyProvider):
    """Dependency giving workers the service's :class:`BlobStore` (a folder unless told otherwise)."""

    def setup(self) -> None:
        self.store: BlobStore = FolderBlobs(blob_root(self.container.config))

    def get_dependency(self, worker_ctx: Any) -> BlobStore:
        return self.store
