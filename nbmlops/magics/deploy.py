"""``%deploy``: start, check, list, stop and roll back model servers from a notebook."""

from __future__ import annotations

import html
import json
from typing import TYPE_CHECKING, Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, magics_class

from nbmlops.errors import NbmlopsError
from nbmlops.magics._ipython import argument, line_magic, magic_arguments, parse_argstring

if TYPE_CHECKING:
    from nbmlops.serving.deployments import Deployment


def sample_calls(url: str, name: str, example: list[dict[str, Any]] | None,
                 token: str | None = None) -> tuple[str, str]:
    """Return (curl command, Python snippet) calling ``url`` with the input example."""
    rows = (example or [])[:1]
    payload = json.dumps({"dataframe_records": rows})
    auth = " -H 'Authorization: Bearer $NBMLOPS_SERVE_TOKEN'" if token else ""
    curl = (f"curl -s {url}/invocations -H 'Content-Type: application/json'{auth} "
            f"-d '{payload}'")
    headers = ', headers={"Authorization": "Bearer " + TOKEN}' if token else ""
    py = ("import httpx\n"
          f"r = httpx.post({url + '/invocations'!r}, json={{'dataframe_records': {rows!r}}}"
          f"{headers})\nr.json()['predictions']")
    return curl, py


class _DeployedView:
    """The output of ``%deploy REF``: the deployment plus how to call it."""

    def __init__(self, dep: Deployment, example: list[dict[str, Any]] | None) -> None:
        self.deployment = dep
        self.curl, self.python = sample_calls(dep.url, dep.model, example, dep.token)

    def __repr__(self) -> str:
        d = self.deployment
        return (f"{d.name}: {d.ref} version {d.deployed_version} at {d.url} (pid {d.pid})\n\n"
                f"{self.curl}\n\n{self.python}")

    def _repr_html_(self) -> str:
        d = self.deployment
        return (f"<b>{html.escape(d.name)}</b>: {html.escape(d.ref)} version "
                f"{d.deployed_version} at <a href='{d.url}/docs' target='_blank'>{d.url}</a> "
                f"(pid {d.pid})<pre>{html.escape(self.curl)}</pre>"
                f"<pre>{html.escape(self.python)}</pre>")


@magics_class
class DeployMagics(Magics):
    """Serve registry models over HTTP from the notebook."""

    @magic_arguments()
    @argument("ref", nargs="?", default=None, help="NAME@ALIAS or NAME/VERSION to serve.")
    @argument("--port", type=int, default=None, help="Port (default: a free one).")
    @argument("--host", default="127.0.0.1", help="Address to bind (default 127.0.0.1).")
    @argument("--workers", type=int, default=1, help="Worker processes (default 1).")
    @argument("--runtime", default="auto", choices=["auto", "onnx", "sklearn"])
    @argument("--token", default=None, help="Require this bearer token.")
    @argument("--name", default=None, help="Deployment name (default MODEL-PORT).")
    @argument("--dry-run", action="store_true",
              help="Serve in a fresh process, compare with the kernel's model, time it.")
    @argument("--model", default=None, help="With --dry-run: variable holding the model.")
    @argument("--data", default=None, help="With --dry-run: DataFrame variable to compare on.")
    @argument("--list", action="store_true", help="List running deployments.")
    @argument("--stop", default=None, metavar="NAME_OR_PORT", help="Stop a deployment.")
    @argument("--rollback", default=None, metavar="NAME",
              help="Move NAME@production back to its previous version.")
    @line_magic("deploy")
    def deploy(self, line: str) -> Any:
        """Serve a registered model as an HTTP service.

        Usage::

            %deploy churn@production --port 8080     # start; shows URL, curl and Python
            %deploy churn@production --dry-run       # fresh process vs kernel, latency split
            %deploy --list
            %deploy --stop churn-8080                # name or port
            %deploy --rollback churn                 # production -> previous version

        A deployment that follows an alias switches to the new version (without
        dropping requests) when the alias moves.
        """
        args = parse_argstring(self.deploy, line)
        try:
            return self._route(args)
        except NbmlopsError as exc:
            raise UsageError(str(exc)) from exc

    def _route(self, args: Any) -> Any:
        if args.list:
            return self._list()
        if args.stop:
            from nbmlops.serving.deployments import stop_deployment

            dep = stop_deployment(args.stop)
            print(f"stopped {dep.name} ({dep.url})")
            return None
        if args.rollback:
            from nbmlops.serving.deployments import rollback

            mv = rollback(args.rollback)
            print(f"{mv.name}@production now points at version {mv.version}; deployments "
                  "following it switch within a second")
            return mv
        if not args.ref:
            raise UsageError("give a model reference (NAME@ALIAS or NAME/VERSION), or --list, "
                             "--stop NAME_OR_PORT, --rollback NAME")
        if args.dry_run:
            return self._dry_run(args)
        return self._start(args)

    def _var(self, name: str | None) -> Any:
        if name is None:
            return None
        assert self.shell is not None  # magics are always registered on a shell
        if name not in self.shell.user_ns:
            raise UsageError(f"no variable {name!r} in the notebook")
        return self.shell.user_ns[name]

    def _dry_run(self, args: Any) -> Any:
        from nbmlops.serving.dryrun import dry_run

        return dry_run(args.ref, self._var(args.model), self._var(args.data),
                       runtime=args.runtime)

    def _start(self, args: Any) -> Any:
        from nbmlops.registry.versions import get_model_version
        from nbmlops.serving.deployments import deploy

        dep = deploy(args.ref, port=args.port, host=args.host, workers=args.workers,
                     runtime=args.runtime, token=args.token, name=args.name)
        example = get_model_version(f"{dep.model}/{dep.deployed_version}").input_example
        return _DeployedView(dep, example)

    def _list(self) -> Any:
        import pandas as pd

        from nbmlops._format import DEPLOYMENT_COLUMNS
        from nbmlops.serving.deployments import list_deployments

        rows = [d.as_dict() for d in list_deployments()]
        frame = pd.DataFrame(rows, columns=list(DEPLOYMENT_COLUMNS))
        frame["started_at"] = pd.to_datetime(frame["started_at"], unit="s", utc=True)
        return frame
