"""Lineage of a model version: version → run → data, notebook, commit, environment, pipeline.

``lineage("churn@production")`` returns a :class:`Lineage` graph (plain nodes and edges,
JSON-able via ``to_dict``) that renders itself as a PNG diagram in notebooks (``to_svg``
gives the same drawing as SVG) and as an indented tree in terminals. No graphviz needed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from html import escape
from typing import Any

#: how many pipeline parents to follow up from the run
MAX_PARENTS = 5
_COLORS = {"alias": "#fff8c5", "model_version": "#ddf4ff", "run": "#dafbe1",
           "dataset": "#fbefff", "notebook": "#fff1e5", "commit": "#eaeef2",
           "environment": "#eaeef2", "pipeline_run": "#dafbe1"}
#: node box size and gaps, in pixels
_W, _H, _GX, _GY = 210, 46, 70, 14


def _short(label: str) -> str:
    return label if len(label) <= 32 else label[:31] + "…"


@dataclass(frozen=True)
class LineageNode:
    """One thing in the graph, of a ``kind``: model_version, run, dataset, notebook, commit."""

    id: str
    kind: str
    label: str
    attrs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class LineageEdge:
    """A directed link ``source → target`` with its relation (registered_from, read…)."""

    source: str
    target: str
    relation: str


@dataclass
class Lineage:
    """The lineage graph of one model version."""

    root: str
    nodes: list[LineageNode] = field(default_factory=list)
    edges: list[LineageEdge] = field(default_factory=list)

    def add(self, node: LineageNode, edge_from: str | None = None, relation: str = "") -> None:
        """Add ``node`` once, and an edge to it from ``edge_from``."""
        if all(n.id != node.id for n in self.nodes):
            self.nodes.append(node)
        if edge_from is not None:
            self.edges.append(LineageEdge(edge_from, node.id, relation))

    def node(self, node_id: str) -> LineageNode:
        """Return the node with this id."""
        return next(n for n in self.nodes if n.id == node_id)

    def of_kind(self, kind: str) -> list[LineageNode]:
        """Return the nodes of one kind."""
        return [n for n in self.nodes if n.kind == kind]

    def to_dict(self) -> dict[str, Any]:
        """Return the graph as JSON-able ``{"root", "nodes", "edges"}``."""
        return {"root": self.root, "nodes": [asdict(n) for n in self.nodes],
                "edges": [asdict(e) for e in self.edges]}

    def to_text(self) -> str:
        """Return the graph as an indented tree rooted at the model version."""
        lines: list[str] = []
        for e in self.edges:
            if e.target == self.root:
                lines.append(f"[{self.node(e.source).kind}] {self.node(e.source).label} "
                             f"--{e.relation}-->")
        seen: set[str] = set()

        def walk(node_id: str, depth: int, relation: str) -> None:
            n = self.node(node_id)
            extra = ", ".join(f"{k}={v}" for k, v in n.attrs.items() if v not in (None, ""))
            prefix = "  " * depth + (f"--{relation}--> " if relation else "")
            lines.append(f"{prefix}[{n.kind}] {n.label}" + (f"  ({extra})" if extra else ""))
            if node_id in seen:
                return
            seen.add(node_id)
            for e in self.edges:
                if e.source == node_id:
                    walk(e.target, depth + 1, e.relation)

        walk(self.root, 0, "")
        return "\n".join(lines)

    def _columns(self) -> dict[str, int]:
        col = {self.root: 1}
        changed = True
        while changed:
            changed = False
            for e in self.edges:
                if e.source in col and e.target not in col:
                    col[e.target] = col[e.source] + 1
                    changed = True
                elif e.target in col and e.source not in col:
                    col[e.source] = col[e.target] - 1
                    changed = True
        low = min(col.values())
        return {k: v - low for k, v in col.items()}

    def _layout(self) -> tuple[dict[str, tuple[int, int]], int, int]:
        """Return (top-left corner of each node, width, height) in pixels, columns left to right."""
        cols = self._columns()
        rows: dict[int, int] = {}
        pos: dict[str, tuple[int, int]] = {}
        for n in self.nodes:
            c = cols.get(n.id, 0)
            r = rows.get(c, 0)
            rows[c] = r + 1
            pos[n.id] = (10 + c * (_W + _GX), 10 + r * (_H + _GY))
        width = 20 + (max(cols.values(), default=0) + 1) * (_W + _GX) - _GX
        height = 20 + max(rows.values(), default=1) * (_H + _GY) - _GY
        return pos, width, height

    def to_svg(self) -> str:
        """Return the graph drawn as a self-contained SVG (columns left to right)."""
        w, h = _W, _H
        pos, width, height = self._layout()
        parts = [f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' "
                 "font-family='system-ui,sans-serif' font-size='11'>",
                 "<defs><marker id='nbm-arrow' viewBox='0 0 10 10' refX='10' refY='5' "
                 "markerWidth='7' markerHeight='7' orient='auto'><path d='M0,0L10,5L0,10z' "
                 "fill='#57606a'/></marker></defs>"]
        for e in self.edges:
            (x1, y1), (x2, y2) = pos[e.source], pos[e.target]
            sx, sy, tx, ty = x1 + w, y1 + h / 2, x2, y2 + h / 2
            mx = (sx + tx) / 2
            parts.append(f"<path d='M{sx},{sy} C{mx},{sy} {mx},{ty} {tx},{ty}' fill='none' "
                         "stroke='#57606a' marker-end='url(#nbm-arrow)'/>")
            parts.append(f"<text x='{mx}' y='{(sy + ty) / 2 - 3}' text-anchor='middle' "
                         f"fill='#57606a' font-size='9'>{escape(e.relation)}</text>")
        for n in self.nodes:
            x, y = pos[n.id]
            stroke = "#0969da" if n.id == self.root else "#8c959f"
            parts.append(
                f"<g><title>{escape(n.id)}</title><rect x='{x}' y='{y}' width='{w}' "
                f"height='{h}' rx='6' fill='{_COLORS.get(n.kind, '#ffffff')}' "
                f"stroke='{stroke}'/><text x='{x + 8}' y='{y + 16}' fill='#57606a' "
                f"font-size='9'>{escape(n.kind.replace('_', ' '))}</text><text x='{x + 8}' "
                f"y='{y + 33}' font-weight='600'>{escape(_short(n.label))}</text></g>")
        parts.append("</svg>")
        return "".join(parts)

    def to_png(self, dpi: int = 144) -> bytes:
        """Return the same diagram as PNG bytes (matplotlib Agg; needs ``nbmlops[ui]``).

        Notebook outputs use this: JupyterLab strips inline SVG from untrusted notebooks
        (papermill output, pipeline steps), while a data-URI PNG always shows.
        """
        import io

        try:
            from matplotlib.backends.backend_agg import FigureCanvasAgg
            from matplotlib.figure import Figure
            from matplotlib.patches import FancyArrowPatch, FancyBboxPatch
        except ImportError as exc:
            from nbmlops.errors import MissingDependencyError

            raise MissingDependencyError("matplotlib", "ui") from exc
        pos, width, height = self._layout()
        fig = Figure(figsize=(width / 100, height / 100), dpi=100)
        FigureCanvasAgg(fig)
        ax = fig.add_axes((0, 0, 1, 1))
        ax.set_xlim(0, width)
        ax.set_ylim(height, 0)
        ax.set_axis_off()
        for e in self.edges:
            (x1, y1), (x2, y2) = pos[e.source], pos[e.target]
            sx, sy, tx, ty = x1 + _W, y1 + _H / 2, x2, y2 + _H / 2
            ax.add_patch(FancyArrowPatch((sx, sy), (tx, ty), arrowstyle="-|>",
                                         mutation_scale=9, color="#57606a", linewidth=0.9,
                                         connectionstyle="arc3,rad=0"))
            # labelled next to the arrowhead, so fanned-out edges keep their labels apart
            ax.text(tx - 8, ty - 4, e.relation, fontsize=6.5, color="#57606a", ha="right",
                    va="bottom")
        for n in self.nodes:
            x, y = pos[n.id]
            stroke = "#0969da" if n.id == self.root else "#8c959f"
            ax.add_patch(FancyBboxPatch((x, y), _W, _H, boxstyle="round,pad=0,rounding_size=6",
                                        facecolor=_COLORS.get(n.kind, "#ffffff"),
                                        edgecolor=stroke, linewidth=1.0))
            ax.text(x + 8, y + 14, n.kind.replace("_", " "), fontsize=6.5, color="#57606a",
                    va="baseline")
            ax.text(x + 8, y + 32, _short(n.label), fontsize=8, fontweight="bold",
                    color="#24292f", va="baseline")
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=dpi)
        return buf.getvalue()

    def _repr_html_(self) -> str:
        """Return the diagram as a data-URI PNG, or the SVG plus a text tree without matplotlib."""
        import base64

        from nbmlops.errors import MissingDependencyError

        try:
            data = base64.b64encode(self.to_png()).decode()
        except MissingDependencyError:
            return (f"<div class='nbmlops-lineage'>{self.to_svg()}"
                    f"<pre>{escape(self.to_text())}</pre></div>")
        _, width, _ = self._layout()
        return (f"<div class='nbmlops-lineage'><img alt='lineage of {escape(self.root)}' "
                f"width='{width}' src='data:image/png;base64,{data}'/></div>")

    def __repr__(self) -> str:
        return self.to_text()


def lineage(ref: str) -> Lineage:
    """Return the lineage graph of the model version ``ref`` (``name/3`` or ``name@alias``).

    Parameters
    ----------
    ref : str
        The model version.

    Returns
    -------
    Lineage
        Nodes (version, aliases, run, datasets, notebook, commit, environment, pipeline) and
        edges; ``to_text()``, ``to_svg()``, ``to_png()`` and ``to_dict()`` render it. A run
        deleted since registration is shown as missing.

    Raises
    ------
    ModelNotFound
        No model, version or alias matches.
    """
    from nbmlops.errors import RunNotFound
    from nbmlops.registry.versions import get_model_version
    from nbmlops.tracking.api import get_run

    mv = get_model_version(ref)
    root = f"model:{mv.ref}"
    g = Lineage(root)
    g.add(LineageNode(root, "model_version", mv.ref,
                      {"flavor": mv.flavor, "sha256": mv.sha256[:12], "unsafe": mv.unsafe}))
    for alias in mv.aliases:
        g.add(LineageNode(f"alias:{mv.name}@{alias}", "alias", f"{mv.name}@{alias}"))
        g.edges.append(LineageEdge(f"alias:{mv.name}@{alias}", root, "points_at"))
    try:
        run = get_run(mv.run_id)
    except RunNotFound:
        g.add(LineageNode(f"run:{mv.run_id}", "run", mv.run_id, {"missing": True}), root,
              "registered_from")
        return g
    _add_run(g, run, root, "registered_from", "run")
    return g


def _add_run(g: Lineage, run: Any, parent_id: str, relation: str, kind: str,
             depth: int = 0) -> None:
    from nbmlops.errors import RunNotFound
    from nbmlops.tracking.api import get_run

    rec = run.info
    run_node = f"run:{rec.id}"
    g.add(LineageNode(run_node, kind, f"{rec.name} ({rec.id[:8]})",
                      {"experiment": rec.experiment, "status": rec.status.value}),
          parent_id, relation)
    for d in run.datasets:
        g.add(LineageNode(f"dataset:{d.fingerprint}", "dataset", f"{d.name} {d.fingerprint[:8]}",
                          {"shape": list(d.shape), "kind": d.kind}),
              run_node, "read" if d.role == "input" else "wrote")
    if rec.notebook_path:
        g.add(LineageNode(f"notebook:{rec.notebook_path}", "notebook",
                          rec.notebook_path.rsplit("/", 1)[-1], {"path": rec.notebook_path}),
              run_node, "executed_in")
    if rec.git_commit:
        g.add(LineageNode(f"commit:{rec.git_commit}", "commit", rec.git_commit[:12],
                          {"dirty": rec.git_dirty}), run_node, "at_commit")
    if rec.environment_hash:
        env = run.environment
        g.add(LineageNode(f"environment:{rec.environment_hash}", "environment",
                          f"python {env.get('python_version', '?')} "
                          f"{rec.environment_hash[:8]}", {"hash": rec.environment_hash}),
              run_node, "ran_in")
    if rec.parent_run_id and depth < MAX_PARENTS:
        try:
            parent = get_run(rec.parent_run_id)
        except RunNotFound:
            return
        _add_run(g, parent, run_node, "step_of", "pipeline_run", depth + 1)
