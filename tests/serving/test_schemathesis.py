"""Schemathesis over the served OpenAPI document: no 5xx, no response outside the document.

The served document describes any model; the run pins this model's name and its four
input columns (a copy of the document, changed only there) so that generated requests
get past "unknown model"/"missing column" and reach parsing, validation and prediction.
Fixed seed, bounded examples; every check schemathesis has.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import require
from tests.serving.conftest import COLUMNS

SEED = 20261201
MAX_EXAMPLES = 20
#: 413 (too many rows/items) is a refusal as good as 400 for schema-violating data
CONFIG = """
[checks.negative_data_rejection]
expected-statuses = [400, 401, 404, 405, 406, 409, 413, 415, 422]
"""
_INT = {"type": "integer", "minimum": -(2**63), "maximum": 2**63 - 1}
_FLOAT = {"type": "number"}


def _pinned(doc: dict[str, Any], name: str, kinds: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Return the document with model_name fixed to ``name`` and rows fixed to the columns."""
    row = {"type": "array", "prefixItems": list(kinds.values()), "items": False,
           "minItems": len(kinds), "maxItems": len(kinds)}
    record = {"type": "object", "properties": kinds, "required": list(kinds),
              "additionalProperties": False}
    rows = {"type": "array", "minItems": 1, "maxItems": 50}
    for path, ops in doc["paths"].items():
        for op in ops.values():
            for p in op.get("parameters", []):
                if p["name"] == "model_name":
                    p["schema"] = {"type": "string", "enum": [name]}
            content = op.get("requestBody", {}).get("content", {})
            if path == "/invocations":
                content["application/json"]["schema"] = {"oneOf": [
                    {"type": "object", "required": ["dataframe_split"], "additionalProperties":
                     False, "properties": {"dataframe_split": {
                         "type": "object", "required": ["data"],
                         "properties": {"columns": {"const": list(kinds)},
                                        "data": {**rows, "items": row}}}}},
                    {"type": "object", "required": ["dataframe_records"],
                     "additionalProperties": False,
                     "properties": {"dataframe_records": {**rows, "items": record}}},
                    {"type": "object", "required": ["instances"], "additionalProperties": False,
                     "properties": {"instances": {**rows, "items": row}}}]}
                numbers = ",".join(["[1-9][0-9]{0,5}"] * len(kinds))
                content["text/csv"]["schema"] = {
                    "type": "string", "pattern": f"^{','.join(kinds)}\\n({numbers}\\n){{1,5}}$"}
            if path.endswith("/infer"):
                tensor = {"type": "object", "required": ["name", "shape", "datatype", "data"],
                          "additionalProperties": False, "properties": {
                              "name": {"type": "string", "minLength": 1, "maxLength": 10},
                              "shape": {"const": [1, len(kinds)]},
                              "datatype": {"const": "FP64"}, "data": row}}
                schema = content["application/json"]["schema"]
                schema["properties"]["inputs"] = {"type": "array", "items": tensor,
                                                  "minItems": 1, "maxItems": 1}
                schema["additionalProperties"] = False
                schema["properties"].pop("parameters")
    return doc


def test_schemathesis_finds_no_server_error_and_no_schema_violation(
        live: dict[str, Any], tmp_path: Path) -> None:
    require(importlib.util.find_spec("schemathesis") is not None,
            "schemathesis is not installed (pip install -e '.[dev]')")
    url = live["url"]
    doc = httpx.get(f"{url}/openapi.json").json()
    kinds = {c: _INT if c in ("age", "visits") else _FLOAT for c in COLUMNS}
    spec = tmp_path / "openapi.json"
    spec.write_text(json.dumps(_pinned(doc, "churn", kinds)))
    (tmp_path / "schemathesis.toml").write_text(CONFIG)
    report = tmp_path / "report.json"
    cmd = [sys.executable, "-m", "schemathesis.cli", "--config-file",
           str(tmp_path / "schemathesis.toml"), "--no-color", "run", str(spec), "--url", url,
           "--checks", "all", "--seed", str(SEED), "--max-examples", str(MAX_EXAMPLES),
           "--workers", "1", "--generation-database", "none", "--report", "json",
           "--report-json-path", str(report), "--request-timeout", "30"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=540, cwd=tmp_path)
    out = proc.stdout + proc.stderr
    summary = [ln for ln in out.splitlines() if "generated" in ln or "passed" in ln]
    print("\n".join(summary))
    assert proc.returncode == 0, out[-6000:]
    assert httpx.get(f"{url}/health").status_code == 200


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(var, raising=False)
