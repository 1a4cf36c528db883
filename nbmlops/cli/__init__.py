"""The ``nbmlops`` console script: one click group per module, loaded lazily."""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

from nbmlops._version import __version__

#: command name -> "module:attribute" of a click command or group (imported when used)
COMMANDS: dict[str, str] = {
    "export": "nbmlops.cli.interop:export",
    "import": "nbmlops.cli.interop:import_",
    "models": "nbmlops.cli.models:models",
    "monitor": "nbmlops.cli.monitor:monitor",
    "runs": "nbmlops.cli.runs:runs",
    "serve": "nbmlops.cli.serve:serve",
    "deployments": "nbmlops.cli.serve:deployments",
    "package": "nbmlops.cli.serve:package",
    "pipeline": "nbmlops.cli.pipeline:pipeline",
    "reproduce": "nbmlops.cli.reproduce:reproduce",
    "schedule": "nbmlops.cli.schedule:schedule",
    "scheduler": "nbmlops.cli.schedule:scheduler",
    "store": "nbmlops.cli.store:store",
}


class LazyGroup(click.Group):
    """A click group whose sub-commands are imported only when invoked or listed."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        """Return the command names, without importing their modules."""
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        """Return the command ``name``, importing its module now (None if unknown)."""
        target = COMMANDS.get(name)
        if target is None:
            return None
        module, attr = target.split(":")
        cmd: click.Command = getattr(importlib.import_module(module), attr)
        return cmd


@click.group(cls=LazyGroup)
@click.version_option(__version__, prog_name="nbmlops")
def cli() -> None:
    """Jupyter-native MLOps: tracking, registry, serving, pipelines, monitoring."""


def main(argv: list[str] | None = None) -> Any:
    """Run the CLI; every error a caller can cause prints one ``Error:`` line and exits non-zero.

    NbmlopsErrors and OS errors (a path that cannot be read or written) exit 1, usage
    errors exit 2 (the line names the command whose ``--help`` explains it).
    """
    from nbmlops.errors import NbmlopsError

    try:
        return cli.main(args=argv, prog_name="nbmlops", standalone_mode=False)
    except (click.exceptions.Abort, KeyboardInterrupt):
        click.echo("Aborted.", err=True)
        sys.exit(1)
    except BrokenPipeError:  # `nbmlops runs list | head`: the reader left, nothing to say
        _silence_stdout()
        sys.exit(1)
    except click.UsageError as exc:
        hint = f" (see '{exc.ctx.command_path} --help')" if exc.ctx else ""
        _fail(exc.format_message() + hint, exc.exit_code)
    except click.ClickException as exc:
        _fail(exc.format_message(), exc.exit_code)
    except NbmlopsError as exc:
        _fail(str(exc), 1)
    except OSError as exc:
        where = f": {exc.filename}" if exc.filename else ""
        _fail(f"{exc.strerror or exc}{where}", 1)


def _fail(message: str, code: int) -> None:
    """Print ``Error: message`` as one line on stderr and exit with ``code``."""
    click.echo("Error: " + " ".join(message.splitlines()), err=True)
    sys.exit(code)


def _silence_stdout() -> None:
    import os

    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
