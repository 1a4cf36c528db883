"""REST handlers of the sidebar: parse the request, call the core API in a thread, write JSON.

Every verb is ``@tornado.web.authenticated``; writes are also ``@authorized``. Errors are
``{"error": {"code", "message"}}`` with 400 (bad input), 404 (unknown id), 409 (a gate
refused) or 503 (the store cannot be used); a traceback never reaches a response body.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import tornado.web
from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join

from nbmlops._format import missing
from nbmlops.config import Settings
from nbmlops.errors import (
    ConfigError,
    ConflictError,
    NbmlopsError,
    NotFoundError,
    StoreError,
    ValidationError,
)

T = TypeVar("T")

#: metric points sent per metric key for the curves (evenly thinned beyond this)
MAX_CURVE_POINTS = 500
#: how many pipeline executions GET pipelines returns
PIPELINE_RUNS = 20
#: longest accepted reason for an alias move (it goes in the audit log)
MAX_REASON = 500
#: the authorization resource of the write routes (see jupyter_server's Authorizer)
AUTH_RESOURCE = "nbmlops"


class NotebookNotFound(NotFoundError):
    """No notebook at the path a request named."""

    kind = "notebook"


class JobNotFound(NotFoundError):
    """No step job has this id in this server process."""

    kind = "step job"


class RequestError(Exception):
    """A request the handler refuses before calling the core (bad query or body)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _status_of(exc: BaseException) -> tuple[int, str]:
    """Return the (HTTP status, error code) a failure maps to."""
    from nbmlops.registry.aliases import PromotionBlocked

    if isinstance(exc, PromotionBlocked):
        return 409, "gate_refused"
    if isinstance(exc, RequestError):
        return 400, "bad_request"
    if isinstance(exc, ValidationError):
        return 400, "bad_request"
    if isinstance(exc, NotFoundError):
        return 404, "not_found"
    if isinstance(exc, ConflictError):
        return 409, "conflict"
    if isinstance(exc, (StoreError, ConfigError)):
        return 503, "store_unavailable"
    if isinstance(exc, NbmlopsError):
        return 400, "bad_request"
    return 500, "internal_error"


class NbmlopsHandler(APIHandler):
    """Base of every route: store resolution, the worker-thread call and JSON errors."""

    auth_resource = AUTH_RESOURCE

    def initialize(self, root_dir: str) -> None:
        """Keep the server's root directory: the store is found from there."""
        self.root_dir = Path(root_dir).expanduser().resolve()

    # store -----------------------------------------------------------------
    def store_settings(self) -> Settings:
        """Return the settings of the store this server shows (found from its root dir)."""
        from nbmlops.config import find_home, resolve_settings

        home = os.environ.get("NBMLOPS_HOME") or find_home(self.root_dir)
        return resolve_settings(home=home)

    def store_is_missing(self, settings: Settings) -> bool:
        """Return whether nothing was recorded yet (or the store file was removed)."""
        from nbmlops import store
        from nbmlops.config import store_missing

        if store_missing(settings):
            store.reset()  # a store deleted while the server runs: drop its stale engine
            return True
        return False

    async def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Return ``fn(*args, **kwargs)`` run in a worker thread against this server's store."""
        from nbmlops.config import use_settings

        settings = self.store_settings()

        def work() -> T:
            with use_settings(settings):
                return fn(*args, **kwargs)

        return await asyncio.to_thread(work)

    # output ----------------------------------------------------------------
    def reply(self, body: Any, status: int = 200) -> None:
        """Finish with ``body`` as JSON."""
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(_plain(body), allow_nan=False))

    def fail(self, exc: BaseException) -> None:
        """Finish with the JSON error ``exc`` maps to (500s are logged with their traceback)."""
        from nbmlops.registry.aliases import PromotionBlocked

        status, code = _status_of(exc)
        if status == 500:
            self.log.error("nbmlops: %s %s failed", self.request.method, self.request.path,
                           exc_info=exc)
            message = "internal error in the nbmlops server extension; see the server log"
        else:
            message = exc.message if isinstance(exc, RequestError) else str(exc)
        error: dict[str, Any] = {"code": code, "message": message}
        if isinstance(exc, PromotionBlocked):
            error["ref"] = exc.ref
            error["failed_checks"] = exc.failed
        self.reply({"error": error}, status)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """Answer tornado's own errors (403, 404, 405...) in the same JSON shape."""
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(exc, tornado.web.HTTPError):
            message = exc.log_message or exc.reason or str(status_code)
            code = {403: "forbidden", 404: "not_found", 405: "method_not_allowed"}.get(
                status_code, "http_error")
        else:
            message, code = "internal error in the nbmlops server extension", "internal_error"
        self.set_status(status_code)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({"error": {"code": code, "message": message}}))

    # input -----------------------------------------------------------------
    def query_arg(self, name: str) -> str | None:
        """Return a query argument stripped, or None when absent or empty."""
        value = self.get_query_argument(name, None)
        if value is None:
            return None
        value = value.strip()
        return value or None

    def read_json_body(self) -> dict[str, Any]:
        """Return the request body as a JSON object, or raise RequestError saying why not."""
        raw = self.request.body or b""
        try:
            body = json.loads(raw.decode("utf-8") or "null")
        except (UnicodeDecodeError, ValueError) as exc:
            raise RequestError(f"the request body is not valid JSON ({exc}); send an object "
                               'like {"version": 3, "reason": "…"}') from None
        if not isinstance(body, dict):
            raise RequestError(f"the request body must be a JSON object, got {body!r:.80}")
        return body

    def root_relative(self, path: str | None) -> str | None:
        """Return ``path`` relative to the server root (for opening it), or None if outside."""
        if not path:
            return None
        try:
            rel = Path(path).expanduser().resolve().relative_to(self.root_dir)
        except (ValueError, OSError):
            return None
        return rel.as_posix()


def _plain(value: Any) -> Any:
    """Return ``value`` JSON-ready: non-finite floats and pd.NA as None, others as text."""
    if missing(value):
        return None
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, (str, int, bool)):
        return value
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "item"):  # numpy scalars
        return _plain(value.item())
    return str(value)


def _empty_runs() -> dict[str, Any]:
    return {"runs": [], "next_page_token": None, "total": 0, "store": "empty"}


class RunsHandler(NbmlopsHandler):
    """``GET runs``: one page of runs (filter, experiment, order_by, page_size, page_token)."""

    @tornado.web.authenticated
    async def get(self) -> None:
        """Return ``{"runs": [...], "next_page_token", "total"}`` for one page."""
        try:
            raw_size = self.query_arg("page_size")
            size: Any = 50
            if raw_size is not None:
                size = int(raw_size) if raw_size.lstrip("-").isdigit() else raw_size
            filter_ = self.query_arg("filter")
            order = self.query_arg("order_by")
            token = self.query_arg("page_token")
            experiment = self.query_arg("experiment")
            if self.store_is_missing(self.store_settings()):
                from nbmlops.tracking.paging import check_page_size

                check_page_size(size)
                if token is not None:
                    raise RequestError(f"page_token {token!r} does not belong to this store "
                                       "(it holds no runs); start again without a page_token")
                self.reply(_empty_runs())
                return
            body = await self.call(_runs_page, experiment, filter_, order, size, token)
            self.reply(body)
        except Exception as exc:
            self.fail(exc)


def _runs_page(experiment: str | None, filter_: str | None, order: str | None, size: Any,
               token: str | None) -> dict[str, Any]:
    from nbmlops.tracking.paging import runs_page

    orders = [o.strip() for o in order.split(",") if o.strip()] if order else None
    page = runs_page(experiment, filter_, orders, page_size=size, page_token=token)
    body = page.to_dict()
    body["store"] = "ok"
    return body


class RunHandler(NbmlopsHandler):
    """``GET runs/{id}``: one run with params, metrics and their history, provenance."""

    @tornado.web.authenticated
    async def get(self, run_id: str) -> None:
        """Return the run's detail."""
        try:
            if self.store_is_missing(self.store_settings()):
                from nbmlops.errors import RunNotFound

                raise RunNotFound(run_id, "the store holds no runs yet")
            detail = await self.call(_run_detail, run_id)
            detail["notebook"] = self.root_relative(detail.get("notebook_path"))
            self.reply(detail)
        except Exception as exc:
            self.fail(exc)


def _thin(points: list[dict[str, Any]], limit: int) -> list[dict[str, Any]]:
    if len(points) <= limit:
        return points
    stride = len(points) / limit
    picked = [points[int(i * stride)] for i in range(limit - 1)]
    return [*picked, points[-1]]


def _run_detail(run_id: str) -> dict[str, Any]:
    import nbmlops

    run = nbmlops.get_run(run_id)
    rec = run.record
    metrics = run.metrics
    history: dict[str, list[dict[str, Any]]] = {}
    for key in sorted(metrics):
        frame = run.metric_history(key)
        points = [{"step": int(s), "value": float(v)}
                  for s, v in zip(frame["step"], frame["value"], strict=True)]
        history[key] = _thin(points, MAX_CURVE_POINTS)
    prov = run.provenance
    return {
        "run_id": rec.id, "name": rec.name, "experiment": rec.experiment,
        "status": rec.status.value, "start_time": rec.start_time,
        "end_time": rec.end_time, "duration": rec.duration,
        "parent_run_id": rec.parent_run_id, "notebook_path": rec.notebook_path,
        "execution_count": rec.execution_count, "source": rec.source,
        "git_commit": rec.git_commit, "git_dirty": rec.git_dirty, "error": rec.error,
        "params": run.params, "metrics": metrics, "metric_history": history,
        "tags": run.tags,
        "artifacts": [{"name": a.name, "size": a.size, "media_type": a.media_type}
                      for a in run.artifacts],
        "datasets": [{"name": d.name, "fingerprint": d.fingerprint, "role": d.role,
                      "shape": list(d.shape)} for d in run.datasets],
        "provenance": {"status": prov.status, "reasons": prov.reasons,
                       "variables": prov.variables},
    }


class RunDiffHandler(NbmlopsHandler):
    """``GET runs/{a}/diff/{b}``: what differs between two runs."""

    @tornado.web.authenticated
    async def get(self, run_a: str, run_b: str) -> None:
        """Return ``diff_runs(a, b).to_dict()``."""
        try:
            if self.store_is_missing(self.store_settings()):
                from nbmlops.errors import RunNotFound

                raise RunNotFound(run_a, "the store holds no runs yet")
            self.reply(await self.call(_diff, run_a, run_b))
        except Exception as exc:
            self.fail(exc)


def _diff(run_a: str, run_b: str) -> dict[str, Any]:
    from nbmlops.tracking.diff import diff_runs

    return diff_runs(run_a, run_b).to_dict()


class ModelsHandler(NbmlopsHandler):
    """``GET models``: registered models with their versions and aliases."""

    @tornado.web.authenticated
    async def get(self) -> None:
        """Return ``{"models": [...]}``."""
        try:
            if self.store_is_missing(self.store_settings()):
                self.reply({"models": []})
                return
            self.reply({"models": await self.call(_models)})
        except Exception as exc:
            self.fail(exc)


def _aliases(versions: list[dict[str, Any]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for v in versions:
        for alias in v["aliases"]:
            out[alias] = v["version"]
    return dict(sorted(out.items()))


def _versions(name: str) -> list[dict[str, Any]]:
    import nbmlops

    frame = nbmlops.list_versions(name)
    out = []
    for row in frame.to_dict("records"):
        metrics = {str(k).split(".", 1)[1]: v for k, v in row.items()
                   if str(k).startswith("metrics.") and v == v}
        out.append({
            "version": int(row["version"]),
            "aliases": [a.strip() for a in str(row["aliases"] or "").split(",") if a.strip()],
            "run_id": row["run_id"], "flavor": row["flavor"],
            "unsafe_pickle": bool(row["unsafe_pickle"]), "checks": row["checks"],
            "created_at": row["created_at"], "created_by": row["created_by"],
            "metrics": metrics,
        })
    return out


def _models() -> list[dict[str, Any]]:
    import nbmlops

    out = []
    for row in nbmlops.list_models().to_dict("records"):
        versions = _versions(row["name"])
        aliases = _aliases(versions)
        out.append({"name": row["name"], "latest_version": int(row["latest_version"]),
                    "description": row["description"], "created_at": row["created_at"],
                    "aliases": aliases, "rollback_to": _rollback_targets(row["name"], aliases),
                    "versions": versions})
    return out


class ModelHandler(NbmlopsHandler):
    """``GET models/{name}``: one model's versions, aliases, card, checks and audit log.

    Each alias carries the version a rollback returns to; the card is the latest
    version's.
    """

    @tornado.web.authenticated
    async def get(self, name: str) -> None:
        """Return the model's detail."""
        try:
            if self.store_is_missing(self.store_settings()):
                from nbmlops.errors import ModelNotFound

                raise ModelNotFound(name, "no model is registered yet")
            self.reply(await self.call(_model_detail, name))
        except Exception as exc:
            self.fail(exc)


def _model_detail(name: str) -> dict[str, Any]:
    import nbmlops
    from nbmlops.registry.cards import model_card_text
    from nbmlops.registry.versions import latest_checks

    versions = _versions(name)
    for v in versions:
        v["check_results"] = latest_checks(f"{name}/{v['version']}")
    aliases = _aliases(versions)
    history = nbmlops.alias_history(name).tail(50).to_dict("records")
    latest = nbmlops.get_model_version(f"{name}/{versions[0]['version']}")
    return {"name": name, "versions": versions, "aliases": aliases,
            "rollback_to": _rollback_targets(name, aliases),
            "card": model_card_text(latest), "alias_history": history[::-1]}


def _rollback_targets(name: str, aliases: dict[str, int]) -> dict[str, int | None]:
    """Return, per alias, the version a rollback would move it back to (None: none)."""
    from nbmlops.registry.aliases import previous_version

    out: dict[str, int | None] = {}
    for alias in aliases:
        try:
            out[alias] = previous_version(name, alias)
        except ValidationError:
            out[alias] = None
    return out


class AliasHandler(NbmlopsHandler):
    """``PUT models/{name}/aliases/{alias}``: move an alias behind the promotion gate."""

    @tornado.web.authenticated
    @authorized
    async def put(self, name: str, alias: str) -> None:
        """Body ``{"version": int, "reason": str}``; 409 with the failed checks if refused."""
        try:
            body = self.read_json_body()
            unknown = sorted(set(body) - {"version", "reason"})
            if unknown:
                raise RequestError(f"unknown field(s) {', '.join(map(repr, unknown))} in the "
                                   'body; it accepts "version" and "reason"')
            version = body.get("version")
            if isinstance(version, bool) or not isinstance(version, int) or version < 1:
                raise RequestError(f"version must be a positive integer, got {version!r}")
            reason = body.get("reason")
            if not isinstance(reason, str) or not reason.strip():
                raise RequestError(f"reason must be a non-empty string (it goes in the audit "
                                   f"log), got {reason!r}")
            if len(reason) > MAX_REASON:
                raise RequestError(f"reason is {len(reason)} characters; at most {MAX_REASON}")
            if self.store_is_missing(self.store_settings()):
                from nbmlops.errors import ModelNotFound

                raise ModelNotFound(name, "no model is registered yet")
            self.reply(await self.call(_promote, name, alias, version, reason.strip()))
        except Exception as exc:
            self.fail(exc)


def _promote(name: str, alias: str, version: int, reason: str) -> dict[str, Any]:
    import nbmlops
    from nbmlops.names import validate_name

    validate_name(name, "model")
    validate_name(alias, "alias")
    mv = nbmlops.promote(name, version, alias, reason=reason)
    return {"name": mv.name, "alias": alias, "version": mv.version, "aliases": mv.aliases}


class DeploymentsHandler(NbmlopsHandler):
    """``GET deployments``: every deployment with its live status, URL and health."""

    @tornado.web.authenticated
    async def get(self) -> None:
        """Return ``{"deployments": [...]}``, newest first."""
        try:
            if self.store_is_missing(self.store_settings()):
                self.reply({"deployments": []})
                return
            self.reply({"deployments": await self.call(_deployments)})
        except Exception as exc:
            self.fail(exc)


def _deployments() -> list[dict[str, Any]]:
    from nbmlops.serving.deployments import list_deployments

    keys = ("id", "name", "ref", "model", "version", "url", "status", "runtime", "workers",
            "started_at", "stopped_at")
    out = []
    for dep in list_deployments(include_stopped=True)[:50]:
        row = dep.as_dict()
        item = {k: row.get(k) for k in keys}
        item["health"] = dep.health(timeout=1.0) if item["status"] == "running" else None
        out.append(item)
    return out


class PipelinesHandler(NbmlopsHandler):
    """``GET pipelines``: recent pipeline executions with their steps."""

    @tornado.web.authenticated
    async def get(self) -> None:
        """Return ``{"pipelines": [...]}``, newest first."""
        try:
            if self.store_is_missing(self.store_settings()):
                self.reply({"pipelines": []})
                return
            runs = await self.call(_pipelines)
            for run in runs:
                for step in run["steps"]:
                    step["executed_notebook"] = self.root_relative(step["executed_notebook"])
            self.reply({"pipelines": runs})
        except Exception as exc:
            self.fail(exc)


def _pipelines() -> list[dict[str, Any]]:
    from nbmlops.pipelines.history import recent_pipeline_runs

    return recent_pipeline_runs(PIPELINE_RUNS)


@dataclass
class StepJob:
    """A notebook the sidebar runs as a pipeline step, in a background thread."""

    job_id: str
    notebook: str
    status: str = "running"  # running, finished, failed
    pipeline_run_id: str | None = None
    run_id: str | None = None
    steps: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the job as JSON-able data."""
        return asdict(self)


#: step jobs of this server process, oldest first (at most MAX_JOBS are kept)
_jobs: dict[str, StepJob] = {}
MAX_JOBS = 50


def _run_step(job: StepJob, notebook: Path) -> None:
    from nbmlops.pipelines.single import run_notebook_step

    try:
        result = run_notebook_step(notebook)
    except Exception as exc:  # reported to the client; the traceback goes to the log
        job.status, job.error = "failed", str(exc)
        if not isinstance(exc, NbmlopsError):
            import logging

            logging.getLogger("nbmlops.server_ext").exception("step job %s failed", job.job_id)
            job.error = f"{type(exc).__name__}: {exc}"
        return
    job.pipeline_run_id = result.run_id
    job.steps = [{"step": s.name, "status": s.status, "reason": s.reason}
                 for s in result.steps.values()]
    job.run_id = next((s.run_id for s in result.steps.values() if s.run_id), None)
    failed = result.failed
    job.error = "; ".join(str(s.error or s.reason) for s in failed) or None
    job.status = "failed" if failed else "finished"


class StepJobsHandler(NbmlopsHandler):
    """``POST pipelines/steps``: run a notebook (path under the server root) as a pipeline step."""

    @tornado.web.authenticated
    @authorized
    async def post(self) -> None:
        """Body ``{"notebook": "path/under/root.ipynb"}``; 202 with the job to poll."""
        try:
            body = self.read_json_body()
            unknown = sorted(set(body) - {"notebook"})
            if unknown:
                raise RequestError(f"unknown field(s) {', '.join(map(repr, unknown))} in the "
                                   'body; it accepts "notebook"')
            raw = body.get("notebook")
            if not isinstance(raw, str) or not raw.endswith(".ipynb"):
                raise RequestError(f"notebook must be the path of an .ipynb file relative to "
                                   f"the server root, got {raw!r}")
            path = (self.root_dir / raw.lstrip("/")).resolve()
            if self.root_relative(str(path)) is None:
                raise RequestError(f"notebook {raw!r} is outside the server root")
            if not path.is_file():
                raise NotebookNotFound(raw, "save it first")
            job = StepJob(uuid.uuid4().hex, raw)
            _jobs[job.job_id] = job
            while len(_jobs) > MAX_JOBS:
                _jobs.pop(next(iter(_jobs)))
            task = asyncio.ensure_future(self.call(_run_step, job, path))
            _tasks.add(task)
            task.add_done_callback(_tasks.discard)
            self.reply(job.to_dict(), 202)
        except Exception as exc:
            self.fail(exc)


#: running step tasks (kept referenced until done)
_tasks: set[asyncio.Future[None]] = set()


class StepJobHandler(NbmlopsHandler):
    """``GET pipelines/steps/{job}``: progress of a notebook run as a pipeline step."""

    @tornado.web.authenticated
    async def get(self, job_id: str) -> None:
        """Return the job: status running/finished/failed, its runs and steps."""
        try:
            job = _jobs.get(job_id)
            if job is None:
                raise JobNotFound(job_id, "jobs are kept in memory by the server that ran them")
            self.reply(job.to_dict())
        except Exception as exc:
            self.fail(exc)


class StatusHandler(NbmlopsHandler):
    """``GET status``: which store the sidebar shows and whether it holds anything yet."""

    @tornado.web.authenticated
    async def get(self) -> None:
        """Return ``{"version", "store_url", "home", "empty"}``."""
        try:
            from nbmlops._version import __version__

            settings = self.store_settings()
            url = settings.store_url
            if "@" in url and "://" in url:  # never echo a password
                scheme, rest = url.split("://", 1)
                url = f"{scheme}://***@{rest.rsplit('@', 1)[1]}"
            empty = self.store_is_missing(settings)
            if not empty:
                empty = not await self.call(_has_runs)
            self.reply({"version": __version__, "store_url": url,
                        "home": self.root_relative(str(settings.home)) or str(settings.home),
                        "empty": empty})
        except Exception as exc:
            self.fail(exc)


def _has_runs() -> bool:
    from nbmlops.tracking.paging import runs_page

    return bool(runs_page(page_size=1, count=False).run_ids)


def routes(base_url: str, root_dir: str) -> list[tuple[str, type, dict[str, Any]]]:
    """Return the (pattern, handler, kwargs) table under ``{base_url}nbmlops/api/``."""
    from nbmlops.server_ext import API_PREFIX

    seg = r"([^/]+)"
    table: list[tuple[str, type]] = [
        ("status", StatusHandler),
        ("runs", RunsHandler),
        (f"runs/{seg}", RunHandler),
        (f"runs/{seg}/diff/{seg}", RunDiffHandler),
        ("models", ModelsHandler),
        (f"models/{seg}", ModelHandler),
        (f"models/{seg}/aliases/{seg}", AliasHandler),
        ("deployments", DeploymentsHandler),
        ("pipelines", PipelinesHandler),
        ("pipelines/steps", StepJobsHandler),
        (f"pipelines/steps/{seg}", StepJobHandler),
    ]
    kwargs = {"root_dir": root_dir}
    return [(url_path_join(base_url, API_PREFIX, path) + "/?$", handler, kwargs)
            for path, handler in table]


def setup_handlers(web_app: Any, root_dir: str) -> None:
    """Add the nbmlops routes to a Jupyter server's tornado application."""
    base_url = web_app.settings.get("base_url", "/")
    web_app.add_handlers(".*$", routes(base_url, root_dir))
