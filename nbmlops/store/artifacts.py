"""Content-addressed blobs on an fsspec filesystem: atomic writes, hash-checked reads."""

from __future__ import annotations

import hashlib
import os
import uuid
from pathlib import Path
from typing import IO, Any

from nbmlops.config import redact_urls
from nbmlops.errors import (
    ArtifactIntegrityError,
    ArtifactNotFound,
    ConfigError,
    MissingDependencyError,
    StoreUnavailableError,
)

_CHUNK = 1 << 20


#: fsspec protocol -> nbmlops extra that installs its implementation
EXTRAS = {"s3": "s3", "s3a": "s3"}


def _filesystem(url: str) -> tuple[Any, str]:
    """Return (fsspec filesystem, root path) for ``url``, or raise a one-line error."""
    from fsspec.core import url_to_fs

    protocol = url.split("://", 1)[0] if "://" in url else "file"
    try:
        fs, root = url_to_fs(url)
    except ImportError as exc:
        if protocol in EXTRAS:
            raise MissingDependencyError(f"{protocol}fs", EXTRAS[protocol]) from None
        raise ConfigError(f"artifact URL {redact_urls(url)!r} needs a package that is not "
                          f"installed: {exc}") from None
    except (ValueError, TypeError) as exc:  # "Protocol not known", bad storage options
        raise ConfigError(f"artifact URL {redact_urls(url)!r} cannot be used ({exc}); set "
                          "NBMLOPS_ARTIFACT_URL to a folder or an fsspec URL such as "
                          "s3://bucket/prefix") from None
    return fs, str(root)


class ArtifactStore:
    """Blobs stored once per sha256 under ``<root>/<aa>/<sha256>``."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.fs: Any
        self.fs, self.root = _filesystem(url)
        self.root = self.root.rstrip("/")
        self._local = "file" in (self.fs.protocol if isinstance(self.fs.protocol, tuple)
                                 else (self.fs.protocol,))

    def path_of(self, sha256: str) -> str:
        """Return the filesystem path of a blob."""
        return f"{self.root}/{sha256[:2]}/{sha256}"

    def exists(self, sha256: str) -> bool:
        """Return whether a blob is stored."""
        try:
            return bool(self.fs.exists(self.path_of(sha256)))
        except PermissionError as exc:  # an object store refusing these credentials
            raise self._refused(exc) from exc

    def _refused(self, exc: PermissionError) -> StoreUnavailableError:
        return StoreUnavailableError(
            redact_urls(self.url), f"the object store refused access ({exc})",
            "check its credentials (e.g. AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY) and the "
            "bucket's permissions")

    def put_bytes(self, data: bytes) -> tuple[str, int]:
        """Store ``data`` once; return its (sha256, size)."""
        sha = hashlib.sha256(data).hexdigest()
        if not self.exists(sha):
            self._write_atomic(sha, lambda f: f.write(data))
        return sha, len(data)

    def put_file(self, path: str | Path) -> tuple[str, int]:
        """Store a local file once, streaming it; return its (sha256, size)."""
        h = hashlib.sha256()
        size = 0
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(_CHUNK), b""):
                h.update(chunk)
                size += len(chunk)
        sha = h.hexdigest()
        if not self.exists(sha):

            def copy(out: IO[bytes]) -> None:
                with open(path, "rb") as src:
                    for chunk in iter(lambda: src.read(_CHUNK), b""):
                        out.write(chunk)

            self._write_atomic(sha, copy)
        return sha, size

    def _write_atomic(self, sha: str, write: Any) -> None:
        final = self.path_of(sha)
        if not self._local:
            # Object stores make an upload visible only when it completes (a multipart
            # upload that is never completed leaves no object), so streaming straight to
            # the final key is atomic there, with memory bounded by one part; a temp key
            # plus a server-side copy would only double the traffic.
            self._write_remote(final, write)
            return
        tmp_dir = f"{self.root}/tmp"
        tmp = f"{tmp_dir}/{uuid.uuid4().hex}"
        try:
            self.fs.makedirs(tmp_dir, exist_ok=True)
            self.fs.makedirs(f"{self.root}/{sha[:2]}", exist_ok=True)
            with self.fs.open(tmp, "wb") as out:
                write(out)
            if self._local:
                os.replace(tmp, final)  # atomic on one filesystem
            else:
                self.fs.mv(tmp, final)
        except PermissionError as exc:
            raise StoreUnavailableError(
                redact_urls(self.url), f"cannot write artifacts ({exc.strerror})",
                "check folder permissions",
            ) from exc
        finally:
            if self.fs.exists(tmp):
                self.fs.rm(tmp)

    def _write_remote(self, final: str, write: Any) -> None:
        try:
            with self.fs.open(final, "wb") as out:
                write(out)
        except PermissionError as exc:
            raise self._refused(exc) from exc
        except FileNotFoundError as exc:
            raise StoreUnavailableError(
                redact_urls(self.url), f"the bucket or path does not exist ({exc})",
                "create the bucket, or fix NBMLOPS_ARTIFACT_URL") from exc

    def get_bytes(self, sha256: str) -> bytes:
        """Return a blob's bytes after checking that they hash to ``sha256``."""
        try:
            with self.fs.open(self.path_of(sha256), "rb") as f:
                data: bytes = f.read()
        except FileNotFoundError:
            raise ArtifactNotFound(sha256, "the blob is missing from the artifact store") from None
        actual = hashlib.sha256(data).hexdigest()
        if actual != sha256:
            raise ArtifactIntegrityError(sha256, actual)
        return data

    def get_to_file(self, sha256: str, dest: str | Path) -> Path:
        """Stream a blob to ``dest``, checking its hash on the way; return that path.

        Memory stays at one chunk whatever the blob's size; a blob whose bytes do not
        hash to ``sha256`` raises ArtifactIntegrityError and leaves no file at ``dest``.
        """
        dest = Path(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        partial = dest.with_name(f".{dest.name}.{uuid.uuid4().hex}.partial")
        h = hashlib.sha256()
        try:
            with self.fs.open(self.path_of(sha256), "rb") as src, open(partial, "wb") as out:
                for chunk in iter(lambda: src.read(_CHUNK), b""):
                    h.update(chunk)
                    out.write(chunk)
            if h.hexdigest() != sha256:
                raise ArtifactIntegrityError(sha256, h.hexdigest())
            os.replace(partial, dest)
        except FileNotFoundError:
            raise ArtifactNotFound(sha256, "the blob is missing from the artifact store") from None
        finally:
            partial.unlink(missing_ok=True)
        return dest
