"""``nbmlops runs``: list runs and show one run, from the same API notebooks use."""

from __future__ import annotations

import json
import math
from datetime import datetime
from typing import TYPE_CHECKING, Any

import click

from nbmlops._format import number, render_frame

if TYPE_CHECKING:
    import pandas as pd

    from nbmlops.tracking.run import Run

#: columns shown by ``runs list --format table`` before the params.* and metrics.* columns
TABLE_COLUMNS = ["run_id", "name", "experiment", "status", "start_time", "duration"]
MAX_CELL = 40


@click.group("runs")
def runs() -> None:
    """List and inspect tracked runs."""


@runs.command("list")
@click.option("--experiment", "-e", default=None, help="Only runs of this experiment.")
@click.option("--filter", "filter_", metavar="EXPR", default=None,
              help="Filter evaluated in SQL, e.g. \"metrics.acc > 0.9 and params.model = 'rf'\".")
@click.option("--order-by", "order_by", multiple=True, metavar="COLUMN [ASC|DESC]",
              help="Sort key such as 'metrics.acc DESC'; repeat for several. "
                   "Default: newest first.")
@click.option("--max-results", "-n", type=click.IntRange(min=0, max=2**63 - 1), default=None,
              help="Return at most N runs.")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table",
              show_default=True, help="Output format.")
def list_runs(experiment: str | None, filter_: str | None, order_by: tuple[str, ...],
              max_results: int | None, fmt: str) -> None:
    """List runs with their params and latest metrics (MLflow-style columns)."""
    import nbmlops

    frame = nbmlops.runs(experiment=experiment, filter=filter_,
                         order_by=list(order_by) or None, max_results=max_results)
    if fmt == "json":
        click.echo(json.dumps(frame_records(frame), indent=2))
    elif fmt == "csv":
        click.echo(frame.to_csv(index=False), nl=False)
    elif frame.empty:
        click.echo("no runs match" if filter_ or experiment else "no runs recorded yet")
    else:
        click.echo(render_table(frame))


def frame_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Return the runs frame as JSON-able records (NaN as null, inf as "inf", times ISO)."""
    out: list[dict[str, Any]] = []
    for row in frame.to_dict(orient="records"):  # keys are the (str) column names
        out.append({str(k): _json_value(v) for k, v in row.items()})
    return out


def _json_value(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.isoformat()
    if hasattr(value, "isoformat"):  # pandas Timestamp
        return str(value.isoformat())
    if isinstance(value, float):
        if math.isnan(value):
            return None
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
    if hasattr(value, "item"):  # numpy scalar
        return _json_value(value.item())
    return value


def render_table(frame: pd.DataFrame) -> str:
    """Return an aligned plain-text table of the runs frame."""
    extra = [c for c in frame.columns if c.startswith(("params.", "metrics."))]
    columns = [c for c in TABLE_COLUMNS if c in frame.columns] + extra
    seconds: list[Any] = [None if d is None or d != d else f"{d:.2f}s"  # reads better
                          for d in frame["duration"]]
    # a run without a param has none: blank, not the NaN the frame holds for it
    blank = {c: frame[c].astype(object).where(frame[c].notna(), None)
             for c in extra if c.startswith("params.")}
    shown = frame.assign(duration=seconds, **blank)
    return render_frame(shown, columns, width=MAX_CELL)


@runs.command("show")
@click.argument("run_id")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True, help="Output format.")
@click.option("--packages", is_flag=True, help="Also list every installed package.")
def show_run(run_id: str, fmt: str, packages: bool) -> None:
    """Show one run: params, metrics, tags, artifacts, datasets, environment, provenance, source.

    RUN_ID is a run id, a unique prefix of one (at least 6 characters), or ``last``.
    """
    run = _resolve(run_id)
    details = describe_run(run, packages=packages)
    if fmt == "json":
        click.echo(json.dumps(details, indent=2, default=str))
    else:
        click.echo(render_details(details))


def _resolve(run_id: str) -> Run:
    from nbmlops.tracking.api import resolve_run

    return resolve_run(run_id)


def describe_run(run: Run, *, packages: bool = False) -> dict[str, Any]:
    """Return everything ``runs show`` prints about a run, as a JSON-able dict."""
    rec = run.record
    env = run.environment
    prov = run.provenance
    env_summary: dict[str, Any] = {}
    if env:
        env_summary = {
            "python": env.get("python_version"), "platform": env.get("platform"),
            "packages": len(env.get("packages", {})), "imported": env.get("imported", {}),
            "upgraded_since_import": env.get("upgraded", {}),
        }
        if packages:
            env_summary["installed"] = env.get("packages", {})
    return {
        "run_id": rec.id, "name": rec.name, "experiment": rec.experiment,
        "status": rec.status.value, "start_time": rec.start_time.isoformat(),
        "end_time": rec.end_time.isoformat() if rec.end_time else None,
        "duration": rec.duration, "parent_run_id": rec.parent_run_id,
        "params": run.params,
        "metrics": {k: _json_value(v) for k, v in run.metrics.items()},
        "tags": run.tags,
        "artifacts": [{"name": a.name, "size": a.size, "media_type": a.media_type,
                       "sha256": a.sha256} for a in run.artifacts],
        "datasets": [{"name": d.name, "role": d.role, "kind": d.kind, "shape": list(d.shape),
                      "fingerprint": d.fingerprint} for d in run.datasets],
        "environment": env_summary,
        "provenance": {"status": prov.status, "reasons": prov.reasons},
        "git": {"commit": rec.git_commit, "dirty": rec.git_dirty},
        "notebook": rec.notebook_path, "execution_count": rec.execution_count,
        "source": rec.source, "error": rec.error,
    }


def _section(title: str, items: dict[str, Any] | list[str]) -> list[str]:
    lines = [f"{title}:"]
    if not items:
        return lines + ["  (none)"]
    if isinstance(items, dict):
        width = max(len(str(k)) for k in items)
        lines += [f"  {str(k).ljust(width)}  {_cell_full(v)}" for k, v in items.items()]
    else:
        lines += [f"  {i}" for i in items]
    return lines


def _cell_full(value: Any) -> str:
    if isinstance(value, (dict, list)):
        return json.dumps(value, default=str)
    return number(value, "—")


def render_details(d: dict[str, Any]) -> str:
    """Return the human-readable text of ``runs show``."""
    duration = f"{d['duration']:.2f}s" if d["duration"] is not None else "running"
    lines = [
        f"run {d['run_id']}  {d['name']}  [{d['status']}]",
        f"experiment: {d['experiment']}   started: {d['start_time']}   duration: {duration}",
    ]
    if d["parent_run_id"]:
        lines.append(f"parent run: {d['parent_run_id']}")
    lines += _section("params", d["params"])
    lines += _section("metrics", d["metrics"])
    lines += _section("tags", d["tags"])
    lines += _section("artifacts", [f"{a['name']}  {a['media_type']}  {a['size']:,} bytes  "
                                    f"sha256 {a['sha256'][:12]}" for a in d["artifacts"]])
    lines += _section("datasets", [f"{x['name']} ({x['role']})  {x['kind']} {tuple(x['shape'])}"
                                   f"  fingerprint {x['fingerprint'][:12]}"
                                   for x in d["datasets"]])
    env = d["environment"]
    env_lines = []
    if env:
        env_lines = [f"python {env['python']} on {env['platform']}",
                     f"{env['packages']} installed packages, {len(env['imported'])} imported "
                     "modules with versions"]
        env_lines += [f"UPGRADED ON DISK since import: {m} {v['imported']} -> {v['on_disk']}"
                      for m, v in env["upgraded_since_import"].items()]
        env_lines += [f"{name}=={ver}" for name, ver in env.get("installed", {}).items()]
    lines += _section("environment", env_lines)
    prov = d["provenance"]
    lines += _section("provenance", [prov["status"], *prov["reasons"]])
    git = d["git"]
    git_line = (f"{git['commit']}{' (dirty)' if git['dirty'] else ''}" if git["commit"]
                else "not in a git work tree")
    lines.append(f"git: {git_line}")
    if d["notebook"]:
        count = d["execution_count"]
        lines.append(f"notebook: {d['notebook']}" + (f" [cell {count}]" if count else ""))
    if d["source"]:
        lines.append("source:")
        lines += [f"  | {line}" for line in d["source"].splitlines()]
    if d["error"]:
        lines.append("error:")
        lines += [f"  {line}" for line in d["error"].rstrip().splitlines()]
    return "\n".join(lines)


@runs.command("diff")
@click.argument("run_a")
@click.argument("run_b")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True, help="Output format.")
def diff_command(run_a: str, run_b: str, fmt: str) -> None:
    """Show what differs between two runs: params, metrics, code, data, environment, provenance.

    RUN_A and RUN_B are run ids, unique prefixes (at least 6 characters), or ``last``.
    """
    from nbmlops.tracking.diff import diff_runs

    diff = diff_runs(_resolve(run_a), _resolve(run_b))
    if fmt == "json":
        click.echo(json.dumps(diff.to_dict(), indent=2))
    else:
        click.echo(render_diff(diff.to_dict()))


def render_diff(d: dict[str, Any]) -> str:
    """Return the human-readable text of ``runs diff`` from ``RunDiff.to_dict()``."""
    lines = [f"a: {d['a']['run_id']}  {d['a']['name']}",
             f"b: {d['b']['run_id']}  {d['b']['name']}"]
    if d["empty"]:
        return "\n".join([*lines, "no differences"])
    marks = {"added": "+", "removed": "-", "changed": "~"}
    lines += _section("params", [f"{marks[c['kind']]} {c['key']}: {_cell_full(c['a'])} -> "
                                 f"{_cell_full(c['b'])}" for c in d["params"]])
    lines += _section("metrics", [
        f"{marks[m['kind']]} {m['key']}: {_cell_full(m['a'])} -> {_cell_full(m['b'])}"
        + (f"  ({m['delta']:+.4g})" if isinstance(m["delta"], float) else "")
        for m in d["metrics"]])
    lines += _section("input data", [
        f"{marks[x['kind']]} {x['name']}: {x['a_shape']} -> {x['b_shape']}"
        + (f"  +{x['columns_added']}" if x["columns_added"] else "")
        + (f"  -{x['columns_removed']}" if x["columns_removed"] else "")
        for x in d["data"]])
    env = d["environment"]
    env_lines = [f"~ {k}: {a} -> {b}" for k, (a, b) in env["changed"].items()]
    env_lines += [f"+ {k} {v}" for k, v in env["added"].items()]
    env_lines += [f"- {k} {v}" for k, v in env["removed"].items()]
    if env["python"]:
        env_lines.insert(0, f"~ python: {env['python'][0]} -> {env['python'][1]}")
    if not all(env["captured"].values()):
        env_lines = ["not captured for run "
                     + " and ".join(k for k, ok in env["captured"].items() if not ok)]
    lines += _section("environment", env_lines)
    lines += _section("provenance", [f"{marks[c['kind']]} {c['key']}: {_cell_full(c['a'])} -> "
                                     f"{_cell_full(c['b'])}" for c in d["provenance"]])
    lines.append(f"code ({d['code_kind'] or 'none recorded'}):")
    lines += [f"  {line}" for line in d["code"].splitlines()] or ["  (same)"]
    return "\n".join(lines)
