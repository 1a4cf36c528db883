"""The Models panel: registered models, versions with alias badges, card, checks, promotion."""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING, Any

import ipywidgets as w

from nbmlops.errors import NbmlopsError
from nbmlops.widgets import _render as r
from nbmlops.widgets._panel import Panel

if TYPE_CHECKING:
    import pandas as pd

DEFAULT_TARGETS = ("staging", "production")


class ModelsPanel(Panel):
    """Registered models; pick one in ``.model`` and a version in ``.version``.

    Promotion moves the alias in ``.target`` to the version through the same gate as
    ``%promote`` (:func:`nbmlops.promote`): a version whose latest checks did not all pass
    is refused. ``.reason`` is required and lands in the audit log with every action;
    ``.rollback_button`` moves ``.target`` back to its previous version. ``.message``
    says what happened or why it was refused.
    """

    title = "Models"

    def __init__(self, *, refresh: float | None = None, **kwargs: Any) -> None:
        import pandas as pd

        self.models_frame: pd.DataFrame = pd.DataFrame()
        self.versions_frame: pd.DataFrame = pd.DataFrame()
        self.checks: list[dict[str, Any]] = []
        self.gate = ""
        self._quiet = False
        super().__init__(refresh=refresh, **kwargs)

    def _build(self) -> list[Any]:
        self.models_table = w.HTML()
        self.model = w.Dropdown(options=[], description="model", layout=w.Layout(width="260px"))
        self.version = w.Dropdown(options=[], description="version",
                                  layout=w.Layout(width="200px"))
        self.versions_table = w.HTML(layout=w.Layout(max_height="320px", overflow="auto"))
        self.checks_html = w.HTML()
        self.card = w.HTML()
        self.card_box = w.Accordion(children=[self.card], titles=("Model card",))
        self.card_box.selected_index = None
        self.target = w.Combobox(value="production", options=list(DEFAULT_TARGETS),
                                 description="alias", ensure_option=False,
                                 placeholder="production", layout=w.Layout(width="220px"))
        self.reason = w.Text(description="reason", placeholder="why (required, audit log)",
                             layout=w.Layout(width="min(100%, 420px)"))
        self.promote_button = w.Button(description="Promote", button_style="primary",
                                       icon="arrow-up", layout=w.Layout(width="auto"))
        self.rollback_button = w.Button(description="Roll back", button_style="warning",
                                        icon="undo", layout=w.Layout(width="auto"))
        self.gate_html = w.HTML()
        self.model.observe(self._on_model, names="value")
        self.version.observe(self._on_version, names="value")
        self.target.observe(self._on_target, names="value")
        self.promote_button.on_click(self._on_promote)
        self.rollback_button.on_click(self._on_rollback)
        actions = w.VBox([
            w.HTML(r.heading("Promote or roll back")),
            w.HBox([self.target, self.reason], layout=w.Layout(flex_flow="row wrap")),
            w.HBox([self.promote_button, self.rollback_button], layout=w.Layout(gap="8px")),
            self.gate_html,
        ], layout=w.Layout(border=r.BOX_BORDER, padding="6px", margin="6px 0"))
        # shown once there is a model to act on
        self.details = w.VBox([
            w.HBox([self.model, self.version], layout=w.Layout(flex_flow="row wrap")),
            self.versions_table, actions, self.checks_html, self.card_box])
        return [self.models_table, self.details]

    # loading ---------------------------------------------------------------------------
    def _load(self) -> None:
        from nbmlops.registry.versions import list_models

        self.models_frame = list_models()
        names = list(self.models_frame["name"])
        current = self.model.value
        if current and current not in names:
            self.show(f"model {current!r} no longer exists (deleted)", "warn")
        if not names:
            self.models_table.value = r.message(
                "No registered models yet. Register a run's model with %register NAME "
                "--run last (or nbmlops.register_model), then press Refresh.")
        else:
            self.models_table.value = _models_table(self.models_frame)
        self.details.layout.display = "" if names else "none"
        self._quiet = True
        try:
            self.model.options = names
            self.model.value = current if current in names else (names[0] if names else None)
        finally:
            self._quiet = False
        self._load_versions()

    def _on_model(self, change: Any) -> None:
        if not self._quiet:
            self.guard(self._load_versions)

    def _load_versions(self) -> None:
        import pandas as pd

        from nbmlops.registry.versions import list_versions

        name = self.model.value
        if not name:
            self.versions_frame = pd.DataFrame()
            self.versions_table.value = ""
            self._set_versions([])
            return
        self.versions_frame = list_versions(name)
        self.versions_table.value = _versions_table(self.versions_frame)
        self._set_versions(list(self.versions_frame["version"]))

    def _set_versions(self, versions: list[int]) -> None:
        current = self.version.value
        self._quiet = True
        try:
            self.version.options = [(f"v{v}", int(v)) for v in versions]
            self.version.value = current if current in versions else \
                (int(versions[0]) if versions else None)
        finally:
            self._quiet = False
        self._load_version()

    def _on_version(self, change: Any) -> None:
        if not self._quiet:
            self.guard(self._load_version)

    def _on_target(self, change: Any) -> None:
        if not self._quiet:
            self.guard(self._update_gate)

    def _load_version(self) -> None:
        from nbmlops.registry.cards import checks_table_html
        from nbmlops.registry.versions import get_model_version, latest_checks

        name, version = self.model.value, self.version.value
        if not name or version is None:
            self.checks, self.card.value, self.checks_html.value = [], "", ""
            self._update_gate()
            return
        mv = get_model_version(f"{name}/{version}")
        self.checks = latest_checks(mv.ref)
        self.checks_html.value = (checks_table_html(self.checks, f"latest checks of {mv.ref}")
                                  if self.checks else r.message(
                                      f"{mv.ref} has never been checked: run "
                                      f"%%modeltest {mv.ref} before promoting", "warn"))
        self.card.value = mv._repr_html_()
        targets = sorted(set(DEFAULT_TARGETS) | set(_aliases(self.versions_frame)))
        self._quiet = True
        try:
            self.target.options = targets
        finally:
            self._quiet = False
        self._update_gate()

    def _update_gate(self) -> None:
        """Disable the buttons when the outcome is known in advance, saying why."""
        name, version, target = self.model.value, self.version.value, self.target.value.strip()
        notes = []
        promote_ok = bool(name and version is not None and target)
        if not self.checks and version is not None:
            promote_ok = False
            notes.append(f"Promote is off: v{version} has never been checked "
                         f"(run %%modeltest {name}/{version}).")
        elif any(not c["passed"] for c in self.checks):
            promote_ok = False
            failed = ", ".join(c["check"] for c in self.checks if not c["passed"])
            notes.append(f"Promote is off: v{version} failed its latest checks ({failed}).")
        current = _alias_version(self.versions_frame, target)
        if current is not None and current == version:
            promote_ok = False
            notes.append(f"@{target} already points at v{version}.")
        self.promote_button.disabled = not promote_ok
        self.rollback_button.disabled = current is None
        if current is None and target:
            notes.append(f"Roll back is off: @{target} is not set.")
        self.gate = " ".join(notes)
        self.gate_html.value = r.message(self.gate, "warn") if notes else ""

    # actions ---------------------------------------------------------------------------
    def _on_promote(self, _: Any) -> None:
        self.promote()

    def _on_rollback(self, _: Any) -> None:
        self.rollback()

    def _precheck(self, action: str) -> tuple[str, str, str] | None:
        name, target, reason = self.model.value, self.target.value.strip(), self.reason.value
        if not name:
            self.show(f"{action} refused: pick a model first", "error")
            return None
        if not target:
            self.show(f"{action} refused: name the alias to move in 'alias' "
                      "(e.g. production)", "error")
            return None
        if not reason.strip():
            self.show(f"{action} refused: a reason is required (it goes in the audit log)",
                      "error")
            return None
        return name, target, reason.strip()

    def promote(self) -> bool:
        """Promote ``.version`` to ``.target`` through the check gate; return success."""
        from nbmlops.registry.aliases import promote

        checked = self._precheck("promotion")
        version = self.version.value
        if checked is None or version is None:
            if checked is not None:
                self.show("promotion refused: pick a version first", "error")
            return False
        name, target, reason = checked
        try:
            mv = promote(name, version, target, reason=reason)
        except NbmlopsError as exc:
            self.show(f"promotion refused: {exc}", "error")
            return False
        self.reason.value = ""
        self.guard(self._load)
        self.show(f"{name}@{target} → v{mv.version} (recorded in the audit log)", "ok")
        return True

    def rollback(self) -> bool:
        """Move ``.target`` back to the version it pointed at before; return success."""
        from nbmlops.registry.aliases import previous_version, set_alias

        checked = self._precheck("rollback")
        if checked is None:
            return False
        name, target, reason = checked
        try:
            before = previous_version(name, target)
            mv = set_alias(name, target, before, reason=f"rollback: {reason}")
        except NbmlopsError as exc:
            self.show(f"rollback refused: {exc}", "error")
            return False
        self.reason.value = ""
        self.guard(self._load)
        self.show(f"{name}@{target} rolled back to v{mv.version} (recorded in the audit log)",
                  "ok")
        return True

    # snapshot --------------------------------------------------------------------------
    def snapshot_html(self) -> str:
        """Return the models and versions tables and the selected version's checks."""
        parts = [r.heading(self.title), self.message.value, self.models_table.value]
        if self.model.value:
            parts += [r.heading(f"Versions of {self.model.value}"), self.versions_table.value,
                      self.checks_html.value]
        return f"<div class='nbmlops-models-panel'>{''.join(parts)}</div>"


def _models_table(frame: pd.DataFrame) -> str:
    rows = []
    for rec in frame.to_dict("records"):
        aliases = [a.strip() for a in str(rec.get("aliases") or "").split(",") if a.strip()]
        rows.append([f"<b>{escape(str(rec['name']))}</b>", str(rec["latest_version"]),
                     str(rec["versions"]), r.alias_badges(aliases),
                     escape(r.fmt(rec.get("created_at")))])
    return r.table(["model", "latest", "versions", "aliases", "created"], rows)


def _versions_table(frame: pd.DataFrame) -> str:
    metrics = [c for c in frame.columns if c.startswith("metrics.")]
    rows = []
    for rec in frame.to_dict("records"):
        aliases = [a.strip() for a in str(rec.get("aliases") or "").split(",") if a.strip()]
        checks = str(rec.get("checks") or "")
        color = "#1a7f37" if checks.endswith("passed") else \
            "#cf222e" if "failed" in checks else r.MUTED
        rows.append([f"v{rec['version']}", r.alias_badges(aliases),
                     f"<span style='color:{color}'>{escape(checks)}</span>",
                     *(escape(r.fmt(rec.get(m))) for m in metrics),
                     f"<code>{escape(str(rec['run_id'])[:8])}</code>",
                     escape(r.fmt(rec.get("created_at"))), escape(str(rec.get("flavor")))])
    return r.table(["version", "aliases", "checks", *(r.short_column(m) for m in metrics),
                    "run", "created", "flavor"], rows)


def _aliases(frame: pd.DataFrame) -> list[str]:
    out: list[str] = []
    for value in frame.get("aliases", []):
        out += [a.strip() for a in str(value or "").split(",") if a.strip()]
    return out


def _alias_version(frame: pd.DataFrame, alias: str) -> int | None:
    for rec in frame.to_dict("records") if len(frame) else []:
        if alias in [a.strip() for a in str(rec.get("aliases") or "").split(",")]:
            return int(rec["version"])
    return None
