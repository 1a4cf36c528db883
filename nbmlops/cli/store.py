"""``nbmlops store``: what the store holds, and upgrading its schema."""

from __future__ import annotations

import click


@click.group()
def store() -> None:
    """Inspect and upgrade the metadata store: counts, size, schema version."""


@store.command("info")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def info(as_json: bool) -> None:
    """Show where the store is, its schema version, size and row counts (counted in SQL)."""
    import json

    import nbmlops

    data = nbmlops.store_info().to_dict()
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    width = max(map(len, data))
    for key, value in data.items():
        if key == "size_bytes" and isinstance(value, int):
            value = f"{value / 1e6:.1f} MB"
        click.echo(f"{key.replace('_', ' '):<{width}}  {'' if value is None else value}")


@store.command("upgrade")
def upgrade() -> None:
    """Migrate the store to this nbmlops's schema (SQLite: a backup is written first)."""
    from nbmlops.tracking.info import upgrade_store

    click.echo(str(upgrade_store()))
