"""Turn the things users log as artifacts into (name, media type, bytes-or-file) payloads."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any, Union

from nbmlops.errors import ValidationError

Payload = tuple[str, str, Union[bytes, Path]]


def _media(name: str, default: str = "application/octet-stream") -> str:
    import mimetypes

    return mimetypes.guess_type(name)[0] or default


def to_payloads(obj: Any, name: str | None) -> list[Payload]:
    """Return the payloads for ``obj``: one per file, or one for an in-memory value."""
    # A str naming an existing file or folder is that file, with or without name=
    # (as in MLflow); any other str is text and needs a name.
    if isinstance(obj, os.PathLike) or (isinstance(obj, str) and os.path.exists(obj)):
        return _path_payloads(Path(obj), name)
    if isinstance(obj, (bytes, bytearray)):
        return [(_need(name, "bytes"), _media(name or "", "application/octet-stream"), bytes(obj))]
    if isinstance(obj, str):
        return [(_need(name, "text"), _media(name or "", "text/plain"), obj.encode())]
    mod = type(obj).__module__
    if mod.startswith("matplotlib") and hasattr(obj, "savefig"):
        buf = io.BytesIO()
        obj.savefig(buf, format="png", bbox_inches="tight")
        return [(name or "figure.png", "image/png", buf.getvalue())]
    if mod.startswith("pandas") and hasattr(obj, "to_csv"):
        target = name or "data.csv"
        if target.endswith(".parquet"):
            return [(target, "application/vnd.apache.parquet", obj.to_parquet())]
        if target.endswith(".json"):
            return [(target, "application/json", obj.to_json(orient="records").encode())]
        return [(target, "text/csv", obj.to_csv(index=True).encode())]
    if isinstance(obj, (dict, list, tuple, int, float, bool)) or obj is None:
        return [(name or "data.json", "application/json",
                 json.dumps(obj, indent=2, default=str).encode())]
    raise ValidationError(
        f"cannot log a {type(obj).__name__} as an artifact; log a file or folder path, str, "
        "bytes, a matplotlib figure, a DataFrame or a JSON-able value (models: log_model)"
    )


def _need(name: str | None, what: str) -> str:
    if not name:
        raise ValidationError(
            f"log_artifact of {what} needs name=...; a str that is not an existing path is "
            "stored as text"
        )
    return name


def _path_payloads(path: Path, name: str | None) -> list[Payload]:
    if path.is_file():
        n = name or path.name
        return [(n, _media(n), path)]
    if path.is_dir():
        prefix = name or path.name
        files = _folder_files(path)
        if not files:
            raise ValidationError(f"folder {str(path)!r} holds no files to log")
        return [(f"{prefix}/{p.relative_to(path).as_posix()}", _media(p.name), p) for p in files]
    raise ValidationError(f"artifact path {str(path)!r} does not exist")


def _folder_files(folder: Path) -> list[Path]:
    """Return the files under ``folder``, refusing symbolic links that lead out of it.

    A link to a file inside the folder is logged with that file's content; a link whose
    target is outside (or missing) raises ValidationError naming the link, so logging a
    folder never stores content from elsewhere on the disk (``~/.ssh/id_rsa``, ...).
    Links to folders are not descended into.
    """
    root = folder.resolve()
    files = []
    for p in sorted(folder.rglob("*")):
        if p.is_symlink():
            target = p.resolve()
            if not (target.exists() and target.is_relative_to(root)):
                where = "outside the folder" if target.exists() else "which does not exist"
                raise ValidationError(
                    f"{str(p)!r} is a symbolic link to {str(target)!r}, {where}; nbmlops does "
                    "not follow links out of a logged folder: copy the file in, or log it "
                    "with its own log_artifact call"
                )
        if p.is_file():
            files.append(p)
    return files
