"""``nbmlops package``: a complete folder, served with no store, and from a fresh venv."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from tests.conftest import require
from tests.serving.conftest import free_port, start_serve, stop, wait_http

REPO = Path(__file__).resolve().parents[2]


def test_package_folder_is_complete_and_serves_without_a_store(
        churn: str, tmp_path: Path) -> None:
    from nbmlops.cli import cli

    out = tmp_path / "pkg"
    result = CliRunner().invoke(cli, ["package", "churn@production", "--out", str(out)])
    assert result.exit_code == 0, result.output
    files = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert files == [".dockerignore", "Dockerfile", "README.md", "k8s/deployment.yaml",
                     "k8s/inferenceservice.yaml", "model/bundle.json", "model/model.skops",
                     "requirements.txt"]
    bundle = json.loads((out / "model" / "bundle.json").read_text())
    assert bundle["name"] == "churn" and bundle["version"] == 1
    assert bundle["meta"]["signature"]["columns"] == ["age", "income", "visits", "score"]
    assert len(bundle["reference"]["age"]) == 200
    reqs = (out / "requirements.txt").read_text().splitlines()
    import sklearn

    assert f"scikit-learn=={sklearn.__version__}" in reqs
    assert any(r.startswith("nbmlops==") for r in reqs)
    docker = (out / "Dockerfile").read_text()
    assert 'CMD ["nbmlops", "serve", "/srv", "--host", "0.0.0.0", "--port", "8080"]' in docker
    assert "pip install --no-cache-dir -r requirements.txt" in docker
    again = CliRunner().invoke(cli, ["package", "churn@production", "--out", str(out)])
    assert again.exit_code != 0 and "is not empty" in str(again.exception)

    # served from the folder alone: a fresh, empty store home
    port = free_port()
    proc = start_serve([str(out), "--port", str(port), "--no-log-predictions"],
                       tmp_path / "empty-home")
    try:
        wait_http(f"http://127.0.0.1:{port}/health", proc)
        r = httpx.post(f"http://127.0.0.1:{port}/invocations",
                       json={"instances": [[30, 1.0, 3, 0.5]]})
        assert r.status_code == 200 and r.json()["predictions"] in ([0], [1])
        assert httpx.get(f"http://127.0.0.1:{port}/version").json()["version"] == 1
    finally:
        stop(proc)


def test_tampered_package_is_refused(churn: str, tmp_path: Path) -> None:
    from nbmlops.errors import ArtifactIntegrityError
    from nbmlops.serving.package import package_model
    from nbmlops.serving.service import load_from_bundle

    package_model("churn/1", tmp_path / "pkg")
    model = tmp_path / "pkg" / "model" / "model.skops"
    model.write_bytes(model.read_bytes() + b"x")
    with pytest.raises(ArtifactIntegrityError):
        load_from_bundle(tmp_path / "pkg", "sklearn")


@pytest.mark.slow
def test_package_serves_from_a_fresh_venv(churn: str, tmp_path: Path) -> None:
    from nbmlops.serving.package import package_model

    pkg = package_model("churn@production", tmp_path / "pkg").path
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q"]
    res = subprocess.run([*pip, str(REPO), "-r", str(pkg / "requirements.txt")],
                         capture_output=True, text=True, timeout=900)
    require(res.returncode == 0, f"pip could not install into a fresh venv: {res.stderr[-500:]}")
    port = free_port()
    proc = subprocess.Popen([str(venv / "bin" / "nbmlops"), "serve", str(pkg), "--port",
                             str(port), "--no-log-predictions"], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        wait_http(f"http://127.0.0.1:{port}/v2/health/ready", proc, timeout=180)
        r = httpx.post(f"http://127.0.0.1:{port}/invocations",
                       json={"dataframe_records": [{"age": 30, "income": 1.0, "visits": 3,
                                                    "score": 0.5}]})
        assert r.status_code == 200 and r.json()["predictions"] in ([0], [1])
    finally:
        stop(proc)
