"""``nbmlops models``: the model registry from a terminal (same API as the notebook)."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING

import click

from nbmlops._format import render_frame

if TYPE_CHECKING:
    import pandas as pd

_FORMAT = click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table",
                       show_default=True, help="Output format.")


def _emit(frame: pd.DataFrame, fmt: str, empty: str) -> None:
    if fmt == "json":
        click.echo(frame.to_json(orient="records", date_format="iso", indent=2))
    elif frame.empty:
        click.echo(empty)
    else:
        click.echo(render_frame(frame))


@click.group("models")
def models() -> None:
    """Manage registered models: versions, aliases, checks, cards and lineage."""


@models.command("list")
@_FORMAT
def list_cmd(fmt: str) -> None:
    """List registered models with their latest version and aliases."""
    from nbmlops.registry.versions import list_models

    _emit(list_models(), fmt, "no models registered yet (register one with %register)")


@models.command("versions")
@click.argument("name")
@_FORMAT
def versions_cmd(name: str, fmt: str) -> None:
    """List the versions of NAME, newest first (unsafe pickles are marked)."""
    from nbmlops.registry.versions import list_versions

    _emit(list_versions(name), fmt, "")


@models.command("show")
@click.argument("ref")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "html"]), default="text",
              show_default=True, help="Output format.")
def show_cmd(ref: str, fmt: str) -> None:
    """Show the model card of REF (NAME/VERSION, NAME@ALIAS or NAME for the latest)."""
    from dataclasses import asdict

    from nbmlops.registry.cards import build_card, model_card_html, model_card_text
    from nbmlops.registry.versions import get_model_version

    mv = get_model_version(ref)
    if fmt == "text":
        click.echo(model_card_text(mv))
    elif fmt == "html":
        click.echo(model_card_html(mv))
    else:
        card = build_card(mv)
        data = asdict(card)
        data["version"] = {k: v for k, v in asdict(mv).items() if k != "meta"}
        click.echo(json.dumps(data, indent=2, default=str))


@models.command("history")
@click.argument("name")
@click.option("--alias", default=None, help="Only this alias.")
@_FORMAT
def history_cmd(name: str, alias: str | None, fmt: str) -> None:
    """Show the append-only audit log of NAME's aliases (who, when, from, to, why)."""
    from nbmlops.registry.aliases import alias_history

    frame = alias_history(name)
    if alias:
        frame = frame[frame["alias"] == alias]
    _emit(frame, fmt, f"no alias of {name} was ever set")


@models.command("lineage")
@click.argument("ref")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "svg"]), default="text",
              show_default=True, help="Output format.")
def lineage_cmd(ref: str, fmt: str) -> None:
    """Show where REF came from: run, datasets, notebook, commit, environment, pipeline."""
    from nbmlops.registry.lineage import lineage

    graph = lineage(ref)
    if fmt == "json":
        click.echo(json.dumps(graph.to_dict(), indent=2, default=str))
    elif fmt == "svg":
        click.echo(graph.to_svg())
    else:
        click.echo(graph.to_text())


@models.command("check")
@click.argument("ref")
@click.option("--notebook", required=True, type=click.Path(exists=True, dir_okay=False),
              help="Checks notebook; gets model_ref as a papermill parameter.")
@click.option("--output", default=None, type=click.Path(dir_okay=False),
              help="Keep the executed notebook here.")
@click.option("-p", "--parameter", "params", multiple=True, metavar="KEY=VALUE",
              help="Extra papermill parameter, VALUE read as YAML (repeatable).")
@_FORMAT
def check_cmd(ref: str, notebook: str, output: str | None, params: tuple[str, ...],
              fmt: str) -> None:
    """Run a checks notebook against REF and store the results; exit 1 if any failed."""
    import pandas as pd

    from nbmlops.pipelines.params import parse_params
    from nbmlops.registry.check_runner import run_checks_notebook

    rows = run_checks_notebook(ref, notebook, output=output, parameters=parse_params(params))
    cols = ["check", "passed", "value", "threshold", "detail"]
    if fmt == "json":
        click.echo(json.dumps([{c: r.get(c) for c in cols} for r in rows], indent=2))
    else:
        from nbmlops._format import threshold

        frame = pd.DataFrame([{c: r.get(c) if c in ("check", "passed") else threshold(r.get(c))
                               for c in cols} for r in rows], columns=cols)
        frame["passed"] = frame["passed"].map({True: "PASS", False: "FAIL"})
        click.echo(render_frame(frame))
    failed = sum(not r["passed"] for r in rows)
    if failed:
        click.echo(f"{failed} of {len(rows)} checks failed", err=True)
        sys.exit(1)


@models.command("promote")
@click.argument("ref")
@click.argument("alias")
@click.option("--force", is_flag=True, help="Promote even if checks failed or never ran.")
@click.option("--reason", default=None, help="Why (required with --force; audit log).")
def promote_cmd(ref: str, alias: str, force: bool, reason: str | None) -> None:
    """Move ALIAS to REF if its latest checks all passed."""
    from nbmlops._format import promoted
    from nbmlops.registry.aliases import model_aliases, promote
    from nbmlops.registry.versions import resolve_version

    name, version = resolve_version(ref)
    was = model_aliases(name).get(alias)
    promote(name, version, alias, force=force, reason=reason)
    click.echo(promoted(name, alias, version, was=was, forced=force))


@models.group("alias")
def alias_group() -> None:
    """Set or delete an alias directly (recorded in the audit log, not gated)."""


@alias_group.command("set")
@click.argument("name")
@click.argument("alias")
@click.argument("version", type=int)
@click.option("--reason", default=None, help="Why; written in the audit log.")
def alias_set(name: str, alias: str, version: int, reason: str | None) -> None:
    """Point NAME@ALIAS at VERSION."""
    from nbmlops.registry.aliases import set_alias

    set_alias(name, alias, version, reason=reason)
    click.echo(f"{name}@{alias} -> version {version}")


@alias_group.command("delete")
@click.argument("name")
@click.argument("alias")
@click.option("--reason", default=None, help="Why; written in the audit log.")
def alias_delete(name: str, alias: str, reason: str | None) -> None:
    """Remove NAME@ALIAS."""
    from nbmlops.registry.aliases import delete_alias

    delete_alias(name, alias, reason=reason)
    click.echo(f"deleted {name}@{alias}")


@models.command("compare")
@click.argument("name")
@click.argument("v1")
@click.argument("v2")
@_FORMAT
def compare_cmd(name: str, v1: str, v2: str, fmt: str) -> None:
    """Compare params, metrics, data fingerprints and artifacts of two versions (or aliases)."""
    from nbmlops.registry.versions import compare_versions

    _emit(compare_versions(name, v1, v2), fmt, "")
