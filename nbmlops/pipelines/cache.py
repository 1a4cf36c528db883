"""Step caching: fingerprints (code, parameters, inputs, upstream results) and why a step ran.

A step is skipped when a previous successful execution had the same fingerprint and
every output file it wrote still exists with the same content hash — as DVC and
ploomber do.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nbmlops.errors import PipelineError

_stat_cache: dict[tuple[str, int, int], str] = {}


def file_hash(path: Path) -> str:
    """Return the sha256 of a file (or of a folder's files), memoised by size and mtime."""
    if path.is_dir():
        parts = [(str(p.relative_to(path)), file_hash(p)) for p in sorted(path.rglob("*"))
                 if p.is_file()]
        return hashlib.sha256(json.dumps(parts).encode()).hexdigest()
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns)
    if key not in _stat_cache:
        h = hashlib.sha256()
        with path.open("rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        _stat_cache[key] = h.hexdigest()
    return _stat_cache[key]


def expand(root: Path, patterns: tuple[str, ...] | list[str]) -> list[Path]:
    """Return the files and folders named by paths or globs relative to ``root``."""
    out: list[Path] = []
    for pattern in patterns:
        full = os.path.join(root, pattern)
        if glob.has_magic(pattern):
            out.extend(Path(p) for p in sorted(glob.glob(full, recursive=True)))
        else:
            out.append(Path(full))
    return out


def hash_paths(root: Path, patterns: tuple[str, ...] | list[str], what: str,
               step: str) -> dict[str, str]:
    """Return {relative path: sha256}; a missing path raises PipelineError."""
    out: dict[str, str] = {}
    for path in expand(root, patterns):
        if not path.exists():
            raise PipelineError(f"step {step!r}: {what} {os.path.relpath(path, root)} does not "
                                "exist")
        out[os.path.relpath(path, root)] = file_hash(path)
    return out


def result_digest(output_files: dict[str, str], outputs: dict[str, Any]) -> str:
    """Return one hash of what a step produced (files and output values)."""
    blob = json.dumps({"files": output_files, "outputs": outputs}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def fingerprint_key(fingerprint: dict[str, Any]) -> str:
    """Return the sha256 that identifies a fingerprint."""
    return hashlib.sha256(json.dumps(fingerprint, sort_keys=True, default=str).encode()
                          ).hexdigest()


@dataclass(frozen=True)
class CacheDecision:
    """Whether a step can be reused, and why (not)."""

    hit: dict[str, Any] | None
    reason: str


def outputs_intact(root: Path, record: dict[str, Any]) -> str | None:
    """Return None if a record's output files still hash the same, else what changed."""
    for rel, sha in record["output_files"].items():
        path = root / rel
        if not path.exists():
            return f"output {rel} is missing"
        if file_hash(path) != sha:
            return f"output {rel} changed since it was written"
    return None


def decide(store: Any, pipeline: str, step: str, root: Path,
           fingerprint: dict[str, Any]) -> CacheDecision:
    """Return a cache hit (a previous step record) or the reason the step must run."""
    key = fingerprint_key(fingerprint)
    problem = None
    for record in store.matching_steps(pipeline, step, key):
        problem = outputs_intact(root, record)
        if problem is None:
            return CacheDecision(record, f"unchanged since run {record['run_id'][:8]}")
    if problem is not None:
        return CacheDecision(None, problem)
    latest = store.latest_step(pipeline, step)
    if latest is None or not latest["fingerprint"]:
        return CacheDecision(None, "first run")
    return CacheDecision(None, explain(latest["fingerprint"], fingerprint))


def _short(value: Any) -> str:
    text = json.dumps(value, default=str) if not isinstance(value, str) else value
    return text if len(text) <= 40 else text[:37] + "..."


def _code_changes(old: list[list[Any]], new: list[list[Any]]) -> list[str]:
    old_map, new_map = {int(n): h for n, h in old}, {int(n): h for n, h in new}
    if len(old_map) != len(new_map):
        diff = len(new_map) - len(old_map)
        what = f"{abs(diff)} code cell{'s' * (abs(diff) != 1)} {'added' if diff > 0 else 'removed'}"
        return [f"notebook changed: {what}"]
    changed = [str(n) for (n, h), (_, h0) in zip(sorted(new_map.items()),
                                                 sorted(old_map.items()), strict=True)
               if h != h0]
    if not changed:
        return []
    label = "cell" if len(changed) == 1 else "cells"
    return [f"notebook changed: {label} {', '.join(changed)}"]


def _dict_changes(kind: str, old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    out = []
    for key in sorted(set(old) | set(new)):
        if key not in old:
            out.append(f"{kind} {key} added")
        elif key not in new:
            out.append(f"{kind} {key} removed")
        elif old[key] != new[key]:
            if kind == "parameter":
                out.append(f"parameter {key} {_short(old[key])}→{_short(new[key])}")
            else:
                out.append(f"{kind} {key} changed")
    return out


def explain(old: dict[str, Any], new: dict[str, Any]) -> str:
    """Return why ``new`` differs from ``old``, e.g. "parameter alpha 0.1→0.2"."""
    reasons = _code_changes(old.get("code", []), new.get("code", []))
    if old.get("kernel") != new.get("kernel"):
        reasons.append(f"kernel {old.get('kernel')}→{new.get('kernel')}")
    reasons += _dict_changes("parameter", old.get("params", {}), new.get("params", {}))
    reasons += _dict_changes("input", old.get("inputs", {}), new.get("inputs", {}))
    upstream = _dict_changes("upstream", old.get("upstream", {}), new.get("upstream", {}))
    reasons += [r.replace("upstream", "upstream step", 1) for r in upstream]
    return "; ".join(reasons) or "previous outputs are not reusable"
