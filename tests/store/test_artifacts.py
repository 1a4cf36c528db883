"""The content-addressed artifact store: atomic writes, dedupe, verified reads."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from nbmlops.errors import ArtifactIntegrityError, ArtifactNotFound
from nbmlops.store.artifacts import ArtifactStore


@pytest.fixture
def blobs(tmp_path: Path) -> ArtifactStore:
    return ArtifactStore(str(tmp_path / "artifacts"))


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def test_put_bytes_is_content_addressed(blobs: ArtifactStore, tmp_path: Path) -> None:
    data = b"hello world"
    sha, size = blobs.put_bytes(data)
    assert sha == hashlib.sha256(data).hexdigest() and size == len(data)
    path = Path(blobs.path_of(sha))
    assert path == tmp_path / "artifacts" / sha[:2] / sha
    assert path.read_bytes() == data
    assert blobs.get_bytes(sha) == data


def test_identical_bytes_stored_once(blobs: ArtifactStore, tmp_path: Path) -> None:
    src = tmp_path / "same.bin"
    src.write_bytes(b"x" * 3_000_000)  # more than one streaming chunk
    sha1, _ = blobs.put_bytes(b"x" * 3_000_000)
    mtime = os.stat(blobs.path_of(sha1)).st_mtime_ns
    sha2, size = blobs.put_file(src)
    assert sha1 == sha2 and size == 3_000_000
    assert os.stat(blobs.path_of(sha1)).st_mtime_ns == mtime  # not rewritten
    assert _files(tmp_path / "artifacts") == [Path(blobs.path_of(sha1))]  # no temp files left


def test_write_is_atomic_when_writing_fails(blobs: ArtifactStore, tmp_path: Path) -> None:
    def failing(out: object) -> None:
        out.write(b"partial")  # type: ignore[attr-defined]
        raise OSError("disk full")

    sha = "ab" + "0" * 62
    with pytest.raises(OSError, match="disk full"):
        blobs._write_atomic(sha, failing)
    assert not blobs.exists(sha)
    assert _files(tmp_path / "artifacts") == []  # the partial temp file was removed


def test_tampered_blob_fails_integrity_check(blobs: ArtifactStore, tmp_path: Path) -> None:
    sha, _ = blobs.put_bytes(b"model bytes")
    Path(blobs.path_of(sha)).write_bytes(b"evil bytes!")
    with pytest.raises(ArtifactIntegrityError, match="integrity check") as info:
        blobs.get_bytes(sha)
    assert info.value.sha256 == sha
    assert info.value.actual == hashlib.sha256(b"evil bytes!").hexdigest()
    dest = tmp_path / "out.bin"
    with pytest.raises(ArtifactIntegrityError):
        blobs.get_to_file(sha, dest)
    assert not dest.exists()


def test_missing_blob(blobs: ArtifactStore) -> None:
    sha, _ = blobs.put_bytes(b"soon gone")
    os.remove(blobs.path_of(sha))
    with pytest.raises(ArtifactNotFound, match="missing from the artifact store"):
        blobs.get_bytes(sha)
    with pytest.raises(ArtifactNotFound):
        blobs.get_bytes("0" * 64)


def test_fsspec_memory_filesystem() -> None:
    store = ArtifactStore("memory://nbmlops-test-artifacts")
    sha, _ = store.put_bytes(b"in memory")
    assert store.get_bytes(sha) == b"in memory"
    assert store.exists(sha)
    store.fs.rm(store.root, recursive=True)
