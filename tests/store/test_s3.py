"""Artifacts on an S3-compatible server (moto's standalone server on 127.0.0.1).

A real HTTP server speaks the S3 protocol; nbmlops reaches it through s3fs exactly as it
would reach AWS, MinIO or Ceph (``NBMLOPS_ARTIFACT_URL=s3://bucket/prefix`` plus the
endpoint in ``FSSPEC_S3_ENDPOINT_URL``).
"""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import require, wait_until

BIG = 200 * 1024 * 1024


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def s3_server() -> Iterator[str]:
    try:
        from moto.server import ThreadedMotoServer
    except ImportError:
        require(False, "moto[server] is not installed (pip install -e '.[dev]')")
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def s3_env(s3_server: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, str]:
    require(__import__("importlib").util.find_spec("s3fs") is not None,
            "s3fs is not installed (pip install 'nbmlops[s3]')")
    import boto3

    bucket = f"b{os.getpid()}{int(time.time() * 1000) % 10**6}"
    env = {"FSSPEC_S3_ENDPOINT_URL": s3_server, "AWS_ACCESS_KEY_ID": "testing",
           "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
           "NBMLOPS_ARTIFACT_URL": f"s3://{bucket}/artifacts"}
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    import fsspec.config  # read from the environment once, at import: set it here too

    monkeypatch.setitem(fsspec.config.conf, "s3", {"endpoint_url": s3_server})
    boto3.client("s3", endpoint_url=s3_server).create_bucket(Bucket=bucket)
    from nbmlops.store import reset

    reset()
    return {**env, "bucket": bucket}


def _s3(env: dict[str, str]) -> Any:
    import boto3

    return boto3.client("s3", endpoint_url=env["FSSPEC_S3_ENDPOINT_URL"])


def _keys(env: dict[str, str]) -> list[str]:
    got = _s3(env).list_objects_v2(Bucket=env["bucket"])
    return sorted(o["Key"] for o in got.get("Contents", []))


READER = """
import sys
import nbmlops
run = nbmlops.get_run(sys.argv[1])
model = run.load_model()
print(type(model).__name__, model.predict([[0.0, 1.0]])[0])
"""


def _write_big(path: Path) -> str:
    h = hashlib.sha256()
    block = os.urandom(1 << 20)
    with open(path, "wb") as f:
        for i in range(BIG >> 20):
            chunk = block[:-8] + i.to_bytes(8, "little")
            f.write(chunk)
            h.update(chunk)
    return h.hexdigest()


def test_model_and_200mb_file_round_trip_across_processes(s3_env: dict[str, str],
                                                          tmp_path: Path) -> None:
    from sklearn.linear_model import LogisticRegression

    import nbmlops
    from nbmlops.store import open_store

    big = tmp_path / "big.bin"
    digest = _write_big(big)
    model = LogisticRegression().fit([[0.0, 1.0], [1.0, 0.0]] * 5, [0, 1] * 5)
    with nbmlops.start_run("s3", capture=False) as run:
        nbmlops.log_model(model)
        infos = nbmlops.log_artifact(big, name="big.bin")
    assert infos[0].sha256 == digest and infos[0].size == BIG
    keys = _keys(s3_env)
    assert f"artifacts/{digest[:2]}/{digest}" in keys
    assert not [k for k in keys if "/tmp/" in k]  # streamed to the final key, no temp copy

    proc = subprocess.run([sys.executable, "-c", READER, run.id], capture_output=True,
                          text=True, timeout=120, env={**os.environ})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["LogisticRegression", "0"]

    _, artifacts = open_store()
    out = artifacts.get_to_file(digest, tmp_path / "back.bin")
    assert out.stat().st_size == BIG

    # the same bytes again are stored once
    with nbmlops.start_run("again", capture=False):
        nbmlops.log_artifact(big, name="copy.bin")
    assert _keys(s3_env) == keys


def test_a_tampered_blob_is_refused(s3_env: dict[str, str], tmp_path: Path) -> None:
    import nbmlops
    from nbmlops.errors import ArtifactIntegrityError

    with nbmlops.start_run("t", capture=False) as run:
        (info,) = nbmlops.log_artifact(b"the real bytes", name="x.bin")
    _s3(s3_env).put_object(Bucket=s3_env["bucket"],
                           Key=f"artifacts/{info.sha256[:2]}/{info.sha256}", Body=b"evil")
    with pytest.raises(ArtifactIntegrityError):
        nbmlops.get_run(run.id).load_artifact("x.bin")
    from nbmlops.store import open_store

    with pytest.raises(ArtifactIntegrityError):
        open_store()[1].get_to_file(info.sha256, tmp_path / "x.bin")
    assert not (tmp_path / "x.bin").exists()


UPLOADER = """
import sys
import nbmlops
with nbmlops.start_run("killed", capture=False) as run:
    print(run.id, flush=True)
    nbmlops.log_artifact(sys.argv[1], name="big.bin")
"""


def test_a_killed_upload_leaves_no_blob_and_no_row(s3_env: dict[str, str],
                                                   tmp_path: Path) -> None:
    import nbmlops
    from nbmlops.errors import ArtifactNotFound

    big = tmp_path / "big.bin"
    digest = _write_big(big)
    proc = subprocess.Popen([sys.executable, "-c", UPLOADER, str(big)], env={**os.environ},
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    run_id = proc.stdout.readline().strip()
    s3 = _s3(s3_env)

    def uploading() -> bool:
        assert proc.poll() is None, "the upload finished before it could be interrupted"
        return bool(s3.list_multipart_uploads(Bucket=s3_env["bucket"]).get("Uploads"))

    wait_until(uploading, "a multipart upload to start", timeout=120)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    proc.stdout.close()
    assert f"artifacts/{digest[:2]}/{digest}" not in _keys(s3_env)
    run = nbmlops.get_run(run_id)
    with pytest.raises(ArtifactNotFound):
        run.load_artifact("big.bin")
    assert run.artifacts == []


def test_a_missing_bucket_is_one_clear_error(s3_env: dict[str, str],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    import nbmlops
    from nbmlops.errors import NbmlopsError
    from nbmlops.store import reset

    monkeypatch.setenv("NBMLOPS_ARTIFACT_URL", "s3://no-such-bucket-here/artifacts")
    reset()
    with nbmlops.start_run("m", capture=False) as run:
        with pytest.raises(NbmlopsError, match="no-such-bucket-here"):
            nbmlops.log_artifact(b"data", name="d.bin")
    assert nbmlops.get_run(run.id).artifacts == []


def test_wrong_credentials_are_one_clear_error(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """A server that checks credentials (moto with IAM auth on) refuses unknown keys."""
    require(__import__("importlib").util.find_spec("s3fs") is not None,
            "s3fs is not installed (pip install 'nbmlops[s3]')")
    import urllib.error
    import urllib.request

    import nbmlops
    from nbmlops.errors import StoreUnavailableError
    from nbmlops.store import reset

    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        env={**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": "0"},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def answers() -> bool:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/moto-api/", timeout=2)
        except urllib.error.HTTPError:
            return True
        except OSError:
            return False
        return True

    try:
        wait_until(answers, "moto server to answer")
        endpoint = f"http://127.0.0.1:{port}"
        for k, v in {"FSSPEC_S3_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "nobody",
                     "AWS_SECRET_ACCESS_KEY": "hunter2", "AWS_DEFAULT_REGION": "us-east-1",
                     "NBMLOPS_ARTIFACT_URL": "s3://team-bucket/artifacts"}.items():
            monkeypatch.setenv(k, v)
        import fsspec.config

        monkeypatch.setitem(fsspec.config.conf, "s3", {"endpoint_url": endpoint})
        reset()
        with nbmlops.start_run("m", capture=False) as run:
            with pytest.raises(StoreUnavailableError) as info:
                nbmlops.log_artifact(b"data", name="d.bin")
        message = str(info.value)
        assert "s3://team-bucket/artifacts" in message and "refused access" in message
        assert "AWS_ACCESS_KEY_ID" in message and "hunter2" not in message
        assert "\n" not in message
        assert nbmlops.get_run(run.id).artifacts == []  # the metadata store is unchanged
    finally:
        server.terminate()
        server.wait()
        reset()
