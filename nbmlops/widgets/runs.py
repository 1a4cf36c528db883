"""The Runs panel: one SQL page of runs, filter, columns, compare, curves, diff, parallel plot."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import ipywidgets as w
import traitlets

from nbmlops.errors import FilterError, NbmlopsError, ValidationError
from nbmlops.widgets import _render as r
from nbmlops.widgets._panel import Panel, png_image

if TYPE_CHECKING:
    import pandas as pd

    from nbmlops.tracking.diff import RunDiff
    from nbmlops.tracking.paging import RunsPage

#: sort choices offered before the metric columns
BASE_SORTS = [("newest first", ""), ("oldest first", "start_time ASC"),
              ("longest first", "duration DESC"), ("name", "name ASC")]
#: at most this many selected runs are compared and drawn (a legend stays readable)
MAX_COMPARE = 10
FILTER_HELP = "e.g. metrics.acc > 0.9 and params.model = 'rf'"
#: index of the "Parallel coordinates" tab under the table
PARALLEL_TAB = 1


class RunsPanel(Panel):
    """Runs of the store, one page at a time (queried, sorted and paged in SQL).

    Controls: ``.filter`` (the ``runs(filter=…)`` language; errors show under it),
    ``.experiment``, ``.sort``, ``.columns``, ``.prev_button``/``.next_button``; ``.frame``
    is the DataFrame of the shown page. Set ``.selected`` (or pick in ``.picker``) to
    compare runs: ``.comparison`` (differing params first), their metric curves, and the
    :func:`nbmlops.diff_runs` of exactly two runs (``.diff``).
    """

    title = "Runs"
    selected = traitlets.Tuple(help="ids of the selected runs, compared below the table")

    def __init__(self, *, experiment: str | None = None, filter: str = "", page_size: int = 50,
                 refresh: float | None = None, **kwargs: Any) -> None:
        import pandas as pd

        from nbmlops.tracking.paging import check_page_size

        self.page_size = check_page_size(page_size)
        self.page: RunsPage | None = None
        self.frame: pd.DataFrame = pd.DataFrame()
        self.comparison: pd.DataFrame = pd.DataFrame()
        self.diff: RunDiff | None = None
        self.selected_frame: pd.DataFrame = pd.DataFrame()
        self._tokens: list[str | None] = [None]
        self._hidden: set[str] = set()
        self._quiet = False
        self._axes_chosen = False
        self._parallel_stale = True
        self._initial = (experiment or "", filter or "")
        super().__init__(refresh=refresh, **kwargs)

    # layout ----------------------------------------------------------------------------
    def _build(self) -> list[Any]:
        experiment, text = self._initial
        self.experiment = w.Dropdown(options=[("all experiments", "")], value="",
                                     description="experiment",
                                     layout=w.Layout(width="260px"))
        if experiment:
            self.experiment.options = [("all experiments", ""), (experiment, experiment)]
            self.experiment.value = experiment
        self.sort = w.Dropdown(options=BASE_SORTS, value="", description="sort",
                               layout=w.Layout(width="260px"))
        self.filter = w.Text(value=text, placeholder=FILTER_HELP, description="filter",
                             continuous_update=False, layout=w.Layout(width="min(100%, 760px)"))
        self.filter_message = w.HTML()
        self.prev_button = w.Button(description="◀ prev", disabled=True,
                                    layout=w.Layout(width="80px"))
        self.next_button = w.Button(description="next ▶", disabled=True,
                                    layout=w.Layout(width="80px"))
        self.page_label = w.HTML()
        self.table = w.HTML(layout=w.Layout(max_height="460px", overflow="auto"))
        self.columns = w.SelectMultiple(options=[], rows=8,
                                        layout=w.Layout(width="min(100%, 420px)"))
        self.picker = w.SelectMultiple(options=[], rows=10,
                                       layout=w.Layout(width="300px"))
        self.comparison_html = w.HTML()
        self.curve_metric = w.Dropdown(options=[], description="metric",
                                       layout=w.Layout(width="260px"))
        self.curves = png_image("640px")
        self.diff_html = w.HTML()
        self.parallel_params = w.SelectMultiple(options=[], rows=8,
                                                layout=w.Layout(width="260px"))
        self.parallel_metric = w.Dropdown(options=[], description="metric",
                                          layout=w.Layout(width="260px"))
        self.parallel = png_image("760px")
        self.parallel_note = w.HTML()
        self._wire()
        compare = w.VBox([
            w.HBox([w.VBox([w.HTML(_hint("pick runs (Ctrl/Shift-click)")), self.picker]),
                    w.VBox([self.comparison_html], layout=w.Layout(overflow="auto"))],
                   layout=w.Layout(gap="16px")),
            self.curve_metric, self.curves, self.diff_html])
        parallel = w.VBox([
            w.HBox([w.VBox([w.HTML(_hint("params (axes)")), self.parallel_params]),
                    w.VBox([self.parallel_metric, self.parallel_note])],
                   layout=w.Layout(gap="16px")),
            self.parallel])
        columns = w.VBox([w.HTML(_hint("columns shown in the table (Ctrl/Shift-click)")),
                          self.columns])
        self.sections = w.Tab(children=[compare, parallel, columns],
                              titles=("Compare", "Parallel coordinates", "Columns"))
        self.sections.observe(self._on_section, names="selected_index")
        return [
            w.HBox([self.experiment, self.sort], layout=w.Layout(flex_flow="row wrap")),
            self.filter, self.filter_message, self.table,
            w.HBox([self.prev_button, self.next_button, self.page_label],
                   layout=w.Layout(align_items="center", gap="6px")),
            self.sections,
        ]

    def _wire(self) -> None:
        self.filter.observe(self._on_query, names="value")
        self.experiment.observe(self._on_query, names="value")
        self.sort.observe(self._on_query, names="value")
        self.prev_button.on_click(self._on_prev)
        self.next_button.on_click(self._on_next)
        self.columns.observe(self._on_columns, names="value")
        self.picker.observe(self._on_pick, names="value")
        self.curve_metric.observe(self._on_curve_metric, names="value")
        self.parallel_params.observe(self._on_parallel, names="value")
        self.parallel_metric.observe(self._on_parallel, names="value")
        self.observe(self._on_selected, names="selected")

    # selection -------------------------------------------------------------------------
    @traitlets.validate("selected")
    def _validate_selected(self, proposal: Any) -> tuple[str, ...]:
        value = proposal["value"]
        bad = [v for v in value if not isinstance(v, str) or not v]
        if bad:
            raise ValidationError(f"selected must hold run ids (strings), got {bad[0]!r}")
        return tuple(dict.fromkeys(value))

    def _on_selected(self, change: Any) -> None:
        self.guard(self._load_selection)

    def _on_pick(self, change: Any) -> None:
        if not self._quiet:
            self.selected = tuple(change["new"])

    # queries ---------------------------------------------------------------------------
    def _query(self) -> dict[str, Any]:
        return dict(experiment=self.experiment.value or None,
                    filter=self.filter.value.strip() or None,
                    order_by=self.sort.value or None)

    def _on_query(self, change: Any) -> None:
        self._tokens = [None]
        self.refresh()

    def _on_prev(self, _: Any) -> None:
        if len(self._tokens) > 1:
            self._tokens.pop()
            self.refresh()

    def _on_next(self, _: Any) -> None:
        if self.page is not None and self.page.next_page_token:
            self._tokens.append(self.page.next_page_token)
            self.refresh()

    def _load(self) -> None:
        from nbmlops.tracking.paging import experiments, runs_page

        self._load_experiments(experiments())
        try:
            page = runs_page(**self._query(), page_size=self.page_size,
                             page_token=self._tokens[-1])
        except FilterError as exc:
            self.filter_message.value = r.message(f"{exc} — the table still shows the "
                                                  "previous results", "error")
            return
        self.filter_message.value = ""
        self.page, self.frame = page, page.frame
        self._show_page()
        self._load_selection(redraw_table=False)  # _show_page drew it with the selection

    def _load_experiments(self, names: list[str]) -> None:
        current = self.experiment.value
        options = [("all experiments", ""), *((n, n) for n in names)]
        if current and current not in names:
            self.show(f"experiment {current!r} no longer exists; showing all experiments",
                      "warn")
            current = ""
        if list(self.experiment.options) != options:
            with self.hold_trait_notifications():
                self._silently(self.experiment, "options", options)
                self._silently(self.experiment, "value", current)

    def _silently(self, widget: Any, name: str, value: Any) -> None:
        widget.unobserve(self._on_query, names="value")
        try:
            setattr(widget, name, value)
        finally:
            widget.observe(self._on_query, names="value")

    def _show_page(self) -> None:
        page, frame = self.page, self.frame
        assert page is not None
        self._update_columns(frame)
        self._update_sorts(frame)
        query = self._query()
        if page.total == 0 and not (query["experiment"] or query["filter"]):
            from nbmlops.tracking.info import store_info

            self.table.value = r.how_to_start(store_info().store_url)
        elif page.total == 0:
            self.table.value = r.message("no runs match this filter and experiment")
        else:
            self.table.value = r.runs_table(frame, self.shown_columns, self.selected)
        first = page.offset + 1 if len(frame) else 0
        self.page_label.value = (f"<span style='color:{r.MUTED}'>runs {first:,}–"
                                 f"{page.offset + len(frame):,} of {page.total:,}</span>")
        self.prev_button.disabled = len(self._tokens) <= 1
        self.next_button.disabled = page.next_page_token is None
        self._update_picker()
        self._update_parallel_options()

    @property
    def shown_columns(self) -> list[str]:
        """Return the params/metrics columns shown in the table (chosen in ``.columns``)."""
        return [c for c in self.columns.options if c not in self._hidden]

    def _update_columns(self, frame: pd.DataFrame) -> None:
        cols = [c for c in frame.columns if c.startswith(("params.", "metrics."))]
        cols.sort(key=lambda c: (not c.startswith("metrics."), c))
        self._quiet = True
        try:
            self.columns.options = cols
            self.columns.value = tuple(c for c in cols if c not in self._hidden)
        finally:
            self._quiet = False

    def _on_columns(self, change: Any) -> None:
        if self._quiet:
            return
        self._hidden = set(self.columns.options) - set(change["new"])
        if self.page is not None and self.page.total:
            self.table.value = r.runs_table(self.frame, self.shown_columns, self.selected)

    def _update_sorts(self, frame: pd.DataFrame) -> None:
        metrics = sorted(c for c in frame.columns if c.startswith("metrics."))
        options = list(BASE_SORTS)
        for c in metrics:
            options += [(f"{r.short_column(c)} ↓ highest first", f"{c} DESC"),
                        (f"{r.short_column(c)} ↑ lowest first", f"{c} ASC")]
        current = self.sort.value
        if current and current not in {v for _, v in options}:
            options.append((current, current))  # a metric not on this page keeps its sort
        if list(self.sort.options) != options:
            self._silently(self.sort, "options", options)
            self._silently(self.sort, "value", current)

    # comparison ------------------------------------------------------------------------
    def _update_picker(self) -> None:
        labels = {rid: f"{name} · {rid[:8]}"
                  for rid, name in zip(self.frame.get("run_id", []), self.frame.get("name", []),
                                       strict=True)}
        for rid in self.selected:
            labels.setdefault(rid, f"{rid[:8]} (other page)")
        self._quiet = True
        try:
            self.picker.options = [(label, rid) for rid, label in labels.items()]
            self.picker.value = tuple(rid for rid in self.selected if rid in labels)
        finally:
            self._quiet = False

    def _load_selection(self, redraw_table: bool = True) -> None:
        import pandas as pd

        from nbmlops.tracking.paging import runs_page

        ids = list(self.selected)[:MAX_COMPARE]
        frame = pd.DataFrame()
        if ids:
            expr = " or ".join(f"run_id = '{_quote(i)}'" for i in ids)
            frame = runs_page(filter=expr, page_size=len(ids), count=False).frame
            found = set(frame["run_id"]) if len(frame) else set()
            gone = [i for i in self.selected if i not in found and i in ids]
            if gone:
                self.show("run " + ", ".join(g[:8] for g in gone) + " no longer exists "
                          "(removed); dropped from the selection", "warn")
                self.selected = tuple(i for i in self.selected if i not in gone)
                return  # the trait change reloads the selection
            frame = frame.set_index("run_id").loc[ids].reset_index()
        self.selected_frame = frame
        self._update_picker()
        if redraw_table and self.page is not None and self.page.total:
            self.table.value = r.runs_table(self.frame, self.shown_columns, self.selected)
        self._show_comparison()

    def _show_comparison(self) -> None:
        import pandas as pd

        frame = self.selected_frame
        if len(frame) == 0:
            self.comparison = pd.DataFrame()
            self.comparison_html.value = _hint("Select runs to compare their params and "
                                               "metrics; two runs also show their diff.")
            self.curve_metric.options, self.curves.value, self.diff = [], b"", None
            self.diff_html.value = ""
            return
        self.comparison = r.comparison_frame(frame)
        note = "" if len(self.selected) <= MAX_COMPARE else \
            r.message(f"comparing the first {MAX_COMPARE} of {len(self.selected)} runs", "warn")
        self.comparison_html.value = note + r.comparison_table(self.comparison)
        metrics = sorted(r.short_column(c) for c in frame.columns if c.startswith("metrics.")
                         and frame[c].notna().any())
        current = self.curve_metric.value
        self.curve_metric.unobserve(self._on_curve_metric, names="value")
        self.curve_metric.options = metrics
        self.curve_metric.value = current if current in metrics else \
            (metrics[0] if metrics else None)
        self.curve_metric.observe(self._on_curve_metric, names="value")
        self._draw_curves()
        self._show_diff()

    def _on_curve_metric(self, change: Any) -> None:
        self.guard(self._draw_curves)

    def _draw_curves(self) -> None:
        from nbmlops.tracking.api import get_run

        metric = self.curve_metric.value
        if not metric or len(self.selected_frame) == 0:
            self.curves.value = b""
            return
        histories = {}
        for rid, name in zip(self.selected_frame["run_id"], self.selected_frame["name"],
                             strict=True):
            histories[f"{name} ({rid[:6]})"] = get_run(rid).metric_history(metric)
        self.curves.value = r.curves_png(histories, metric)

    def _show_diff(self) -> None:
        from nbmlops.tracking.diff import diff_runs

        self.diff, self.diff_html.value = None, ""
        if len(self.selected) == 2 and len(self.selected_frame) == 2:
            # a is the older run: the diff reads as "what changed since"
            a, b = self.selected_frame.sort_values("start_time", kind="stable")["run_id"]
            self.diff = diff_runs(a, b)
            self.diff_html.value = r.heading("Diff") + self.diff._repr_html_()

    # parallel coordinates ----------------------------------------------------------------
    def _update_parallel_options(self) -> None:
        frame = self.frame
        params = sorted(c for c in frame.columns if c.startswith("params."))
        metrics = sorted(c for c in frame.columns if c.startswith("metrics."))
        chosen = [p for p in self.parallel_params.value if p in params]
        if not chosen and not self._axes_chosen:  # default: the params that vary on this page
            chosen = [p for p in params if frame[p].astype(str).nunique() > 1][:5]
        varying = [m for m in metrics if frame[m].nunique() > 1] or metrics
        metric = self.parallel_metric.value if self.parallel_metric.value in metrics else \
            (varying[0] if varying else None)
        self._quiet = True
        try:
            self.parallel_params.options = [(r.short_column(p), p) for p in params]
            self.parallel_params.value = tuple(chosen)
            self.parallel_metric.options = [(r.short_column(m), m) for m in metrics]
            self.parallel_metric.value = metric
        finally:
            self._quiet = False
        self._parallel_stale = True
        if self.sections.selected_index == PARALLEL_TAB:
            self._draw_parallel()

    def _on_parallel(self, change: Any) -> None:
        if not self._quiet:
            if change["owner"] is self.parallel_params:
                self._axes_chosen = True  # an empty choice stays empty on refresh
            self.guard(self._draw_parallel)

    def _on_section(self, change: Any) -> None:
        if change["new"] == PARALLEL_TAB and self._parallel_stale:
            self.guard(self._draw_parallel)

    def _draw_parallel(self) -> None:
        """Draw the plot.

        Only when its tab is shown or a snapshot is taken: it is the slowest part of a
        refresh.
        """
        self._parallel_stale = False
        params, metric = list(self.parallel_params.value), self.parallel_metric.value
        data = b""
        if params and metric and len(self.frame):
            data = r.parallel_png(self.frame, params, metric)
        self.parallel.value = data
        self.parallel_note.value = "" if data else _hint(
            "Pick one or more params and a metric; the runs of this page are drawn.")

    # snapshot --------------------------------------------------------------------------
    def snapshot_html(self) -> str:
        """Return the shown page as a table, the comparison and the charts as PNG."""
        parts = [r.heading(self.title, self.page_label.value and _strip(self.page_label.value)),
                 self.message.value, self.filter_message.value, self.table.value]
        if len(self.selected_frame):
            parts += [r.heading("Compare"), self.comparison_html.value,
                      r.img(self.curves.value, "metric curves"), self.diff_html.value]
        if self._parallel_stale:
            self.guard(self._draw_parallel)
        if self.parallel.value:
            parts += [r.heading("Parallel coordinates"), r.img(self.parallel.value,
                                                               "parallel coordinates")]
        return f"<div class='nbmlops-runs-panel'>{''.join(parts)}</div>"


def _hint(text: str) -> str:
    return f"<span style='color:{r.MUTED};font-size:12px'>{text}</span>"


def _strip(html: str) -> str:
    import re

    return re.sub(r"<[^>]+>", "", html)


def _quote(run_id: str) -> str:
    if not all(c.isalnum() for c in run_id):
        raise NbmlopsError(f"run id {run_id!r} is not a run id (32 hexadecimal characters)")
    return run_id
