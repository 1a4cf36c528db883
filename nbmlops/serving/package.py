"""``nbmlops package``: a self-contained deployable folder for one model version.

Layout::

    OUT/model/bundle.json      name, version, flavor, signature, input example, reference rows
    OUT/model/model.<ext>      the artifact, byte for byte (its sha256 is checked on load)
    OUT/requirements.txt       pinned from the environment recorded with the training run
    OUT/Dockerfile             runs `nbmlops serve /srv --host 0.0.0.0`
    OUT/README.md              build and run instructions
    OUT/k8s/deployment.yaml    Kubernetes Deployment + Service (probes on /health, scrape
                               annotations, the token from a Secret)
    OUT/k8s/inferenceservice.yaml  a KServe InferenceService running the same image

``nbmlops serve OUT`` serves the folder without any store or registry.
"""

from __future__ import annotations

import json
import platform
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from nbmlops._version import __version__
from nbmlops.errors import ValidationError

#: distributions a served model needs, by flavor (plus nbmlops itself)
FLAVOR_PACKAGES = {
    "sklearn": ["scikit-learn", "numpy", "scipy", "skops", "pandas"],
    "pickle": ["scikit-learn", "numpy", "scipy", "pandas"],
}
OPTIONAL_PACKAGES = ["skl2onnx", "onnxruntime", "onnx"]
_EXT = {"sklearn": "skops", "pickle": "pkl"}


@dataclass(frozen=True)
class PackageResult:
    """What ``package_model`` wrote."""

    name: str
    version: int
    path: Path
    files: list[str]


def _installed(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def requirements(flavor: str, recorded: dict[str, str]) -> str:
    """Return requirements.txt text pinning the serving packages to the recorded versions."""
    lower = {k.lower().replace("_", "-"): v for k, v in recorded.items()}
    lines = ["# pinned from the environment recorded with the training run",
             f"nbmlops=={__version__}"]
    fallback = []
    for dist in FLAVOR_PACKAGES.get(flavor, ["numpy", "pandas"]) + OPTIONAL_PACKAGES:
        version = lower.get(dist)
        if version:
            lines.append(f"{dist}=={version}")
        elif dist not in OPTIONAL_PACKAGES and (here := _installed(dist)):
            fallback.append(f"{dist}=={here}")
    if fallback:
        lines.append("# not in the recorded environment: pinned from the packaging environment")
        lines.extend(fallback)
    return "\n".join(lines) + "\n"


def dockerfile(python_version: str) -> str:
    """Return a Dockerfile that installs the requirements and runs ``nbmlops serve``."""
    major_minor = ".".join(python_version.split(".")[:2])
    return f"""\
FROM python:{major_minor}-slim
WORKDIR /srv
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY model/ model/
ENV NBMLOPS_HOME=/srv/.nbmlops
EXPOSE 8080
# Binding beyond loopback needs a token: docker run -e NBMLOPS_SERVE_TOKEN=... -p 8080:8080 IMAGE
CMD ["nbmlops", "serve", "/srv", "--host", "0.0.0.0", "--port", "8080"]
"""


def _readme(name: str, version: int) -> str:
    return f"""\
# {name} version {version}

Written by `nbmlops package`. Serve it without Docker:

    pip install -r requirements.txt
    nbmlops serve . --port 8080

or build and run the image:

    docker build -t {name}:{version} .
    docker run -e NBMLOPS_SERVE_TOKEN=secret -p 8080:8080 {name}:{version}

Predict with MLflow payloads on POST /invocations or KServe V2 on
POST /v2/models/{name}/infer; /docs shows the OpenAPI document.
"""


def _check_writable(out: Path) -> None:
    """Refuse an ``out`` that cannot become a folder we write, before writing anything."""
    import os

    if out.exists() and not out.is_dir():
        raise ValidationError(f"{out} is a file, not a folder; choose a folder to write")
    existing = out
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise ValidationError(f"cannot create {out}: {existing} is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ValidationError(f"cannot write {out}: {existing} is not writable")


def package_model(ref: str, out: str | Path, *, force: bool = False) -> PackageResult:
    """Write the deployable folder for ``ref`` into ``out``; return what was written."""
    from nbmlops.registry.versions import _registry, get_model_version
    from nbmlops.serving.manifests import k8s_name, manifests
    from nbmlops.serving.reference import dataset_stats, reference_columns
    from nbmlops.serving.validation import InputSchema
    from nbmlops.tracking.api import get_run

    out = Path(out)
    _check_writable(out)
    if out.exists() and any(out.iterdir()) and not force:
        raise ValidationError(f"{out} is not empty; choose a new folder or pass --force")
    mv = get_model_version(ref)
    _, artifacts = _registry()
    data = artifacts.get_bytes(mv.sha256)
    env: dict[str, Any] = get_run(mv.run_id).environment
    schema = InputSchema.from_signature(mv.signature, example=mv.input_example)
    artifact = f"model.{_EXT.get(mv.flavor, 'bin')}"
    bundle = {"name": mv.name, "version": mv.version, "flavor": mv.flavor, "sha256": mv.sha256,
              "artifact": artifact, "meta": mv.meta, "run_id": mv.run_id,
              "reference": reference_columns(schema, dataset_stats(mv.run_id)),
              "packaged_with": __version__}
    files = {
        f"model/{artifact}": data,
        "model/bundle.json": json.dumps(bundle, indent=2, default=str).encode(),
        "requirements.txt": requirements(mv.flavor, env.get("packages") or {}).encode(),
        "Dockerfile": dockerfile(env.get("python_version") or platform.python_version()).encode(),
        ".dockerignore": b".nbmlops/\n__pycache__/\n",
        "README.md": _readme(mv.name, mv.version).encode(),
    }
    image = f"{k8s_name(mv.name, mv.version).rsplit('-v', 1)[0]}:{mv.version}"
    files.update((rel, text.encode()) for rel, text in manifests(mv.name, mv.version,
                                                                  image).items())
    _write_all(out, files)
    return PackageResult(mv.name, mv.version, out, sorted(files))


def _write_all(out: Path, files: dict[str, bytes]) -> None:
    """Write ``files`` under ``out`` whole or not at all (a failed write leaves no folder).

    Everything is written to a temporary sibling first; a new ``out`` is then renamed into
    place in one step, an existing one (empty, or ``--force``) gets each file replaced.
    """
    import os
    import shutil
    import uuid

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.{uuid.uuid4().hex[:8]}.tmp"
    try:
        for rel, content in files.items():
            path = tmp / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
        if not out.exists():
            os.replace(tmp, out)
            return
        for rel in files:
            (out / rel).parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp / rel, out / rel)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
