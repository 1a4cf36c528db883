"""The model card of a version: gathered once (``build_card``), rendered as HTML or text."""

from __future__ import annotations

from dataclasses import dataclass, field
from html import escape
from typing import TYPE_CHECKING, Any

from nbmlops._format import number, threshold, when

if TYPE_CHECKING:
    from nbmlops.registry.versions import ModelVersion

#: packages shown in the card's environment section when installed
KEY_PACKAGES = ("scikit-learn", "skops", "numpy", "pandas", "scipy", "onnx", "onnxruntime",
                "nbmlops")
DATA_COLS = ["name", "role", "kind", "shape", "fingerprint"]
HISTORY_COLS = ["at", "alias", "from_version", "to_version", "user", "reason", "forced"]
_STYLE = ("<style>.nbmlops-card{font-family:system-ui,sans-serif;font-size:13px;max-width:900px}"
          ".nbmlops-card table{border-collapse:collapse;margin:2px 0 8px}"
          ".nbmlops-card td,.nbmlops-card th{border:1px solid #d0d7de;padding:2px 6px;"
          "text-align:left;vertical-align:top}.nbmlops-card h4{margin:8px 0 2px}"
          ".nbmlops-card pre{max-height:220px;overflow:auto;background:#f6f8fa;padding:4px}"
          ".nbmlops-pass{color:#1a7f37}.nbmlops-fail{color:#cf222e;font-weight:bold}</style>")


@dataclass
class ModelCard:
    """Everything a model card shows, as plain data (sections of label -> value)."""

    version: ModelVersion
    summary: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    signature: list[tuple[str, str]] = field(default_factory=list)
    data: list[dict[str, Any]] = field(default_factory=list)
    code: dict[str, Any] = field(default_factory=dict)
    source: str | None = None
    environment: dict[str, Any] = field(default_factory=dict)
    checks: list[dict[str, Any]] = field(default_factory=list)
    alias_history: list[dict[str, Any]] = field(default_factory=list)


def build_card(mv: ModelVersion) -> ModelCard:
    """Return the card of ``mv``: version, run, data, code, environment, checks, aliases."""
    from nbmlops.errors import RunNotFound
    from nbmlops.registry.versions import _registry
    from nbmlops.tracking.api import get_run

    card = ModelCard(mv, metrics=dict(mv.metrics))
    fmt = mv.flavor + (" — UNSAFE pickle: loading it can run arbitrary code" if mv.unsafe else "")
    card.summary = {
        "flavor": fmt, "class": mv.meta.get("class", ""),
        "aliases": ", ".join(f"@{a}" for a in mv.aliases) or "none",
        "created": f"{mv.created_at:%Y-%m-%d %H:%M:%S} UTC by {mv.created_by}",
        "artifact": f"{mv.artifact_name} · sha256 {mv.sha256[:16]}… · {mv.size:,} bytes",
        "description": mv.description or "", "tags": mv.tags or "",
    }
    if mv.needs_trust:
        card.summary["needs trust"] = ", ".join(mv.needs_trust)
    sig = mv.signature or {}
    dtypes = list(sig.get("dtypes") or [])
    card.signature = [(c, dtypes[i] if i < len(dtypes) else "?")
                      for i, c in enumerate(sig.get("columns") or [])]
    try:
        run = get_run(mv.run_id)
    except RunNotFound:
        run = None
    if run is not None:
        _add_run(card, run)
    reg, _ = _registry()
    card.checks = reg.latest_checks(mv.name, mv.version)
    card.alias_history = [h for h in reg.alias_history(mv.name)
                          if mv.version in (h["from_version"], h["to_version"])]
    return card


def _add_run(card: ModelCard, run: Any) -> None:
    rec = run.info
    card.params = run.params
    card.data = [{"name": d.name, "role": d.role, "fingerprint": d.fingerprint[:12],
                  "shape": "×".join(map(str, d.shape)), "kind": d.kind}
                 for d in run.datasets]
    card.code = {
        "run": f"{rec.name} ({rec.id}) in experiment {rec.experiment}",
        "notebook": rec.notebook_path or "",
        "git commit": (rec.git_commit or "") + (" (uncommitted changes)" if rec.git_dirty else ""),
        "parent run": rec.parent_run_id or "",
        "provenance": rec.provenance_status or "",
    }
    card.source = rec.source
    env = run.environment
    if env:
        pkgs = env.get("packages") or {}
        card.environment = {"python": env.get("python_version", ""),
                            "platform": env.get("platform", ""),
                            **{p: pkgs[p] for p in KEY_PACKAGES if p in pkgs},
                            "hash": (rec.environment_hash or "")[:12]}


def _kv_table(items: dict[str, Any]) -> str:
    rows = "".join(f"<tr><th>{escape(str(k))}</th><td>{escape(str(v))}</td></tr>"
                   for k, v in items.items() if v not in ("", None, {}))
    return f"<table>{rows}</table>" if rows else "<i>none recorded</i>"


def _rows_table(rows: list[dict[str, Any]], cols: list[str]) -> str:
    if not rows:
        return "<i>none recorded</i>"
    head = "".join(f"<th>{escape(c)}</th>" for c in cols)
    body = "".join("<tr>" + "".join(f"<td>{escape(number(r.get(c)))}</td>" for c in cols)
                   + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def checks_table_html(rows: list[dict[str, Any]], title: str = "checks") -> str:
    """Return the HTML table of check results (check, result, value, threshold, detail)."""
    body = ""
    for r in rows:
        cls, word = ("nbmlops-pass", "PASS") if r["passed"] else ("nbmlops-fail", "FAIL")
        body += (f"<tr><td>{escape(r['check'])}</td><td class='{cls}'>{word}</td>"
                 f"<td>{escape(threshold(r.get('value')))}</td>"
                 f"<td>{escape(threshold(r.get('threshold')))}</td>"
                 f"<td>{escape(threshold(r.get('detail')))}</td></tr>")
    return (f"{_STYLE}<div class='nbmlops-card'><b>{escape(title)}</b><table><tr><th>check</th>"
            f"<th>result</th><th>value</th><th>threshold</th><th>detail</th></tr>{body}"
            "</table></div>")


def model_card_html(mv: ModelVersion) -> str:
    """Return the HTML card of a model version."""
    c = build_card(mv)
    unsafe = " <span class='nbmlops-fail'>UNSAFE pickle</span>" if mv.unsafe else ""
    hist = [{**h, "at": when(h["at"], "", zone=True), "forced": "yes" if h["forced"] else ""}
            for h in c.alias_history]
    checks = (checks_table_html(c.checks, "latest check batch")
              if c.checks else "<i>never checked — run %%modeltest before promoting</i>")
    source = f"<pre>{escape(c.source)}</pre>" if c.source else ""
    return (
        f"{_STYLE}<div class='nbmlops-card'><h3>{escape(mv.ref)}{unsafe}</h3>"
        f"{_kv_table(c.summary)}"
        f"<h4>Metrics</h4>{_kv_table({k: number(v) for k, v in sorted(c.metrics.items())})}"
        f"<h4>Params</h4>{_kv_table(c.params)}"
        f"<h4>Signature</h4>{_kv_table(dict(c.signature))}"
        f"<h4>Training data</h4>{_rows_table(c.data, DATA_COLS)}"
        f"<h4>Code</h4>{_kv_table(c.code)}{source}"
        f"<h4>Environment</h4>{_kv_table(c.environment)}"
        f"<h4>Checks</h4>{checks}"
        f"<h4>Alias history</h4>"
        f"{_rows_table(hist, HISTORY_COLS)}"
        "</div>"
    )


def model_card_text(mv: ModelVersion) -> str:
    """Return the card of a model version as plain text (for the CLI)."""
    c = build_card(mv)
    out = [f"{mv.ref}" + ("  [UNSAFE pickle]" if mv.unsafe else "")]

    def section(title: str, items: dict[str, Any]) -> None:
        out.append(f"\n{title}")
        shown = {k: v for k, v in items.items() if v not in ("", None, {})}
        if not shown:
            out.append("  (none recorded)")
        width = max((len(str(k)) for k in shown), default=0)
        out.extend(f"  {str(k).ljust(width)}  {number(v)}" for k, v in shown.items())

    section("Summary", c.summary)
    section("Metrics", dict(sorted(c.metrics.items())))
    section("Params", c.params)
    section("Signature", dict(c.signature))
    section("Training data", {f"{d['name']} ({d['role']})":
                              f"{d['kind']} {d['shape']} fingerprint {d['fingerprint']}"
                              for d in c.data})
    section("Code", c.code)
    if c.source:
        out.extend(["  cell source:", *(f"    | {line}" for line in c.source.splitlines())])
    section("Environment", c.environment)
    section("Checks (latest batch)", {
        r["check"]: f"{'PASS' if r['passed'] else 'FAIL'}  value={threshold(r.get('value'))}  "
                    f"threshold={threshold(r.get('threshold'))}"
                    + (f"  ({r['detail']})" if r.get("detail") else "") for r in c.checks})
    out.append("\nAlias history")
    out.extend(f"  {when(h['at'], '', zone=True)}  @{h['alias']}  {h['from_version']} -> "
               f"{h['to_version']}  by {h['user']}" + ("  FORCED" if h["forced"] else "")
               + (f"  ({h['reason']})" if h["reason"] else "") for h in c.alias_history)
    if not c.alias_history:
        out.append("  (none recorded)")
    return "\n".join(out)
