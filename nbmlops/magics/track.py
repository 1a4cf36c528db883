"""The ``%%track`` cell magic: run a cell as a tracked experiment run."""

from __future__ import annotations

import ast
import builtins
import itertools
import re
import shlex
import sys
import traceback
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from types import CodeType
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, magics_class, no_var_expand

from nbmlops.entities import RunStatus
from nbmlops.errors import NbmlopsError, ValidationError
from nbmlops.magics._ipython import argument, cell_magic, magic_arguments, strip_comment
from nbmlops.names import validate_key, validate_name
from nbmlops.tracking.cellcode import CellCode, analyze
from nbmlops.tracking.datasets import is_dataset
from nbmlops.tracking.provenance import get_tracker

_KEYED = re.compile(r"\s*([A-Za-z0-9_.:-]+)\s*=(?!=)(.+)", re.S)


class ModelNotLoggedWarning(UserWarning):
    """A fitted model assigned by a tracked cell could not be saved safely."""


@dataclass(frozen=True)
class Spec:
    """One ``--params``/``--metrics`` item: a key and the expression giving its value."""

    kind: str
    key: str
    expr: str
    code: CodeType
    names: frozenset[str]


def parse_specs(items: list[str], kind: str) -> list[Spec]:
    """Return the specs of ``NAME`` / ``KEY=EXPR`` items, or raise ValidationError."""
    specs = []
    for item in items:
        match = _KEYED.fullmatch(item)
        key, expr = (match.group(1), match.group(2).strip()) if match else (item, item)
        validate_key(key, kind)
        try:
            code = compile(expr, f"<--{kind}s {key}>", "eval")
            tree = ast.parse(expr, mode="eval")
        except SyntaxError as exc:
            raise ValidationError(f"--{kind}s {item!r} is not a name or KEY=EXPRESSION: "
                                  f"{exc.msg}") from None
        names = frozenset(n.id for n in ast.walk(tree) if isinstance(n, ast.Name))
        specs.append(Spec(kind, key, expr, code, names))
    keys = [s.key for s in specs]
    if len(set(keys)) != len(keys):
        raise ValidationError(f"--{kind}s names a key twice: {' '.join(keys)}")
    return specs


def parse_tags(items: list[str]) -> dict[str, str]:
    """Return {key: value} of ``KEY=VALUE`` items, or raise ValidationError."""
    tags = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise ValidationError(f"tag {item!r} must be written KEY=VALUE")
        tags[validate_key(key, "tag")] = value
    return tags


def fitted_estimators(names: list[str], ns: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    """Yield (name, estimator) for each fitted scikit-learn estimator bound to ``names``.

    An estimator that is a part of another one yielded (a tree of a forest, a step of a
    pipeline, a search's ``best_estimator_``), such as a loop variable over
    ``forest.estimators_``, is not a model of its own and is left out.
    """
    if "sklearn.base" not in sys.modules:  # nothing can be an estimator; skip the import
        return
    from sklearn.base import BaseEstimator
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import check_is_fitted

    found: dict[int, tuple[str, Any]] = {}
    for name in names:
        value = ns.get(name)
        if not isinstance(value, BaseEstimator) or id(value) in found:
            continue
        try:
            check_is_fitted(value)
        except (NotFittedError, TypeError):
            continue
        found[id(value)] = (name, value)
    parts = set().union(*(estimator_parts(v, BaseEstimator) for _, v in found.values()))
    yield from (item for key, item in found.items() if key not in parts)


def estimator_parts(estimator: Any, base: type, budget: int = 200_000) -> set[int]:
    """Return the ids of the estimators held inside ``estimator``, at any depth.

    Walks attributes, lists, tuples, dicts and object arrays (GradientBoosting keeps its
    trees in one); ``budget`` bounds the values looked at, so a huge attribute costs little.
    """
    parts: set[int] = set()
    seen, stack = {id(estimator)}, [estimator]
    while stack and budget > 0:
        obj = stack.pop()
        if isinstance(obj, base):
            values: Any = vars(obj).values()
        elif isinstance(obj, dict):
            values = obj.values()
        elif _object_array(obj):
            values = obj.ravel()
        else:
            values = obj
        for value in itertools.islice(values, budget):
            budget -= 1
            nested = isinstance(value, (list, tuple, dict, base)) or _object_array(value)
            if nested and id(value) not in seen:
                seen.add(id(value))
                stack.append(value)
                if isinstance(value, base):
                    parts.add(id(value))
    return parts


def _object_array(value: Any) -> bool:
    return hasattr(value, "ravel") and str(getattr(value, "dtype", "")) == "object"


def input_example(model: Any, frames: dict[str, Any]) -> Any:
    """Return the first rows of a frame/array shaped like the model's training input."""
    features = getattr(model, "feature_names_in_", None)
    tables = [f for f in frames.values() if hasattr(f, "columns")]
    if features is not None:
        wanted = [str(c) for c in features]
        for frame in tables:
            if [str(c) for c in frame.columns] == wanted:
                return frame.head(5)
        for frame in tables:
            if set(wanted) <= {str(c) for c in frame.columns}:
                return frame[list(features)].head(5)
        return None
    n = getattr(model, "n_features_in_", None)
    for value in frames.values():
        if getattr(value, "ndim", 0) == 2 and value.shape[1] == n:
            return value[:5]
    return None


@magics_class
class TrackMagics(Magics):
    """``%%track``: every run of the cell becomes a tracked run."""

    @magic_arguments()
    @argument("name", nargs="?", default=None,
              help="run name (letters, digits, '.', '_', '-'); default run-<id>")
    @argument("-e", "--experiment", default="default", help="experiment name")
    @argument("-p", "--params", nargs="+", default=[], metavar="NAME|KEY=EXPR",
              help="variables (or expressions) logged as params")
    @argument("-m", "--metrics", nargs="+", default=[], metavar="NAME|KEY=EXPR",
              help="variables (or expressions) logged as metrics after the cell")
    @argument("-t", "--tags", nargs="+", default=[], metavar="KEY=VALUE", help="tags")
    @argument("--no-models", action="store_true", help="do not log fitted estimators")
    @argument("--no-data", action="store_true", help="do not fingerprint the data read")
    @no_var_expand
    @cell_magic
    def track(self, line: str, cell: str) -> Any:
        """Run the cell and record it as a run.

        Usage::

            %%track train-rf --params n_estimators max_depth --metrics acc
            model = RandomForestClassifier(n_estimators=n_estimators).fit(X_train, y_train)
            acc = model.score(X_test, y_test)

        Records the cell's source, params (variables' values, or ``key=expr``), metrics
        (numbers, read after the cell), fitted scikit-learn estimators it assigns, the
        DataFrames/arrays it reads, and whether those were produced in order
        (provenance). ``nbmlops.log_*`` calls in the cell go to this run.
        """
        __tracebackhide__ = True
        line = strip_comment(line)
        try:  # POSIX quoting, so that --params "n=len(X) * 2" arrives without its quotes
            argv = shlex.split(line)
        except ValueError as exc:
            raise UsageError(f"%%track: cannot split the arguments: {exc}") from None
        # magic_arguments() attached the argparse parser to the function
        args = self.track.parser.parse_args(argv)  # type: ignore[attr-defined]
        return TrackedCell(self.shell, args, line, cell).run()


class TrackedCell:
    """One execution of a ``%%track`` cell, in named steps."""

    def __init__(self, shell: Any, args: Any, line: str, cell: str) -> None:
        self.shell, self.args, self.line, self.cell = shell, args, line, cell
        self.ns: dict[str, Any] = shell.user_ns
        self.run_obj: Any = None
        self.read_values: dict[str, Any] = {}

    # steps -----------------------------------------------------------------------
    def run(self) -> Any:
        """Check inputs, start the run, execute the body, finish; return the cell's value."""
        __tracebackhide__ = True
        self._prepare()
        self._start()
        try:
            value = self._execute()
        except KeyboardInterrupt:
            self._end(RunStatus.KILLED, "KeyboardInterrupt: the cell was interrupted")
            raise
        except BaseException as exc:
            self._salvage_metrics()
            self._end(RunStatus.FAILED, self._format_error(exc))
            raise
        self._finish()
        return None if self.cell.rstrip().endswith(";") else value

    def _prepare(self) -> None:
        """Parse the body and check every argument; raise UsageError before anything is stored."""
        try:
            if self.args.name is not None:
                validate_name(self.args.name, "run")
            validate_name(self.args.experiment, "experiment")
            self.params = parse_specs(self.args.params, "param")
            self.metrics = parse_specs(self.args.metrics, "metric")
            self.tags = parse_tags(self.args.tags)
        except NbmlopsError as exc:
            raise UsageError(str(exc)) from exc
        self.code = self.shell.transform_cell(self.cell)
        try:
            self.tree = self.shell.compile.ast_parse(self.code)
        except SyntaxError as exc:  # one clear line, not the magic's stack
            where = f" at line {exc.lineno + 1}" if exc.lineno else ""  # +1: the %%track line
            text = f" in {exc.text.strip()!r}" if exc.text else ""
            raise UsageError(f"the cell has a syntax error{where}: {exc.msg}{text}; "
                             "nothing was recorded") from None
        self.info: CellCode = analyze(self.tree)
        made = set(self.info.assigned) | set(self.info.modified)
        for spec in [*self.params, *self.metrics]:
            for name in sorted(spec.names):
                if name not in self.ns and name not in made and not hasattr(builtins, name):
                    raise UsageError(
                        f"unknown variable {name!r} in --{spec.kind}s: it is not defined and "
                        "the cell does not assign it"
                    )
        self.early = [p for p in self.params if not p.names & made]
        self.late = [p for p in self.params if p.names & made]
        self.early_values = self._evaluate(self.early)
        self.reads = sorted(n for n in self.info.reads
                            if n in self.ns and not n.startswith("__"))

    def _start(self) -> None:
        """Start the run, store provenance and fingerprint the data the cell reads."""
        from nbmlops.tracking import capture
        from nbmlops.tracking.api import start_run
        from nbmlops.tracking.provenance import save_report
        from nbmlops.tracking.session import SESSION_TAG, record_session

        tracker = get_tracker(self.shell)
        path = capture.notebook_path(self.ns)
        report = tracker.check([n for n in self.reads if n in tracker.ids], notebook=path)
        try:
            self.run_obj = start_run(
                self.args.name, self.args.experiment, params=self.early_values,
                tags=self.tags, source=self.cell.rstrip("\n"), notebook_path=path,
                execution_count=tracker.current_execution_count(),
            )
        except NbmlopsError as exc:
            raise UsageError(str(exc)) from exc
        try:
            if self.run_obj.info.parent_run_id is None and SESSION_TAG not in self.run_obj.tags:
                record_session(self.run_obj, self.shell)  # (a kernel's start_run did already)
            save_report(self.run_obj, report)
            self.read_values = {n: self.ns[n] for n in self.reads if is_dataset(self.ns[n])}
            if not self.args.no_data:
                for name, value in self.read_values.items():
                    self.run_obj.log_dataset(value, name=name)
        except NbmlopsError as exc:
            self._end(RunStatus.FAILED, f"before the cell ran: {exc}")
            raise UsageError(str(exc)) from exc

    def _execute(self) -> Any:
        """Run the body in the user namespace as %%time does; return a trailing expression."""
        __tracebackhide__ = True
        # Not via shell.run_cell: a nested run_cell shows a failing cell's traceback twice
        # and fires pre/post_run_cell a second time (provenance would count the cell twice).
        # exec/eval keeps output, display and exceptions exactly as without the magic.
        header = f"%%track {self.line}".rstrip()
        count = get_tracker(self.shell).current_execution_count() or 0
        filename = self.shell.compile.cache(f"{header}\n{self.code}", count, raw_code=self.cell)
        self.filename = filename
        tree = self.shell.transform_ast(self.tree)
        ast.increment_lineno(tree, 1)
        last = None
        if tree.body and isinstance(tree.body[-1], ast.Expr):
            last = ast.Expression(tree.body.pop().value)
        exec(self.shell.compile(tree, filename, "exec"), self.ns)
        if last is not None:
            return eval(self.shell.compile(last, filename, "eval"), self.ns)
        return None

    def _finish(self) -> None:
        """Log late params, metrics and models, end FINISHED and show the card."""
        from nbmlops.tracking.values import encode_param, to_metric

        try:
            params = self._evaluate(self.late)
            for key, value in params.items():
                encode_param(key, value)  # validate before anything is logged
            metrics = {k: to_metric(k, v) for k, v in self._evaluate(self.metrics).items()}
        except (NbmlopsError, UsageError) as exc:
            self._end(RunStatus.FAILED, f"after the cell ran: {exc}")
            raise UsageError(str(exc)) from exc
        try:
            if params:
                self.run_obj.log_params(params)
            if not self.args.no_models:
                self._log_models()
            if metrics:
                self.run_obj.log_metrics(metrics)
        except NbmlopsError as exc:
            self._end(RunStatus.FAILED, f"after the cell ran: {exc}")
            raise UsageError(str(exc)) from exc
        self._end(RunStatus.FINISHED, None)

    def _end(self, status: RunStatus, error: str | None) -> None:
        """End the run (and any child the cell left open) and display its card."""
        from IPython.display import display

        from nbmlops.tracking import active

        try:
            for child in reversed(active.all_active()):  # runs the cell left open inside ours
                if child.id == self.run_obj.id:
                    break
                child.end(status, error)
            self.run_obj.end(status, error)
        except NbmlopsError as exc:
            raise UsageError(f"the run could not be ended: {exc}") from exc
        display(self.run_obj)

    # helpers -----------------------------------------------------------------------
    def _evaluate(self, specs: list[Spec]) -> dict[str, Any]:
        """Return {key: value} of params/metrics specs evaluated in the user namespace."""
        out = {}
        for spec in specs:
            for name in sorted(spec.names):
                if name not in self.ns and not hasattr(builtins, name):
                    raise UsageError(f"--{spec.kind}s variable {name!r} is not defined "
                                     "after the cell ran")
            try:
                out[spec.key] = eval(spec.code, self.ns)
            except Exception as exc:
                raise UsageError(f"--{spec.kind}s {spec.key}={spec.expr!r} failed: "
                                 f"{type(exc).__name__}: {exc}") from exc
        return out

    def _salvage_metrics(self) -> None:
        """On failure, log the --metrics variables the cell did assign before it raised."""
        from nbmlops.tracking.values import to_metric

        got = {}
        for spec in self.metrics:
            if spec.expr.isidentifier() and spec.expr in self.info.assigned:
                try:
                    value = to_metric(spec.key, self.ns[spec.expr])
                except (KeyError, NbmlopsError):
                    continue
                if self._rebound(spec.expr):
                    got[spec.key] = value
        if got:
            self.run_obj.log_metrics(got)

    def _rebound(self, name: str) -> bool:
        tracker = get_tracker(self.shell)
        return name in self.ns and tracker.ids.get(name) != id(self.ns[name])

    def _format_error(self, exc: BaseException) -> str:
        """Return the traceback from the cell's own frames on (the magic's left out)."""
        tb = exc.__traceback__
        while tb is not None and tb.tb_frame.f_code.co_filename != getattr(self, "filename", ""):
            tb = tb.tb_next
        return "".join(traceback.format_exception(type(exc), exc, tb or exc.__traceback__))

    def _log_models(self) -> None:
        """Log each fitted scikit-learn estimator the cell assigned or fitted."""
        names = [*self.info.assigned, *self.info.modified]
        assigned_frames = {n: self.ns[n] for n in self.info.assigned
                           if n in self.ns and is_dataset(self.ns[n])}
        frames = {**self.read_values, **assigned_frames}
        for name, model in fitted_estimators(names, self.ns):
            try:
                self.run_obj.log_model(model, name=name,
                                       input_example=input_example(model, frames))
            except NbmlopsError as exc:
                warnings.warn(f"model {name!r} was not logged: {exc}", ModelNotLoggedWarning,
                              stacklevel=2)
