"""The Models panel: versions, checks, and promotion through the %promote gate."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import nbmlops
from nbmlops.widgets import ModelsPanel


def _audit() -> list[tuple[Any, ...]]:
    return [tuple(r) for r in nbmlops.alias_history("churn").itertuples(index=False)]


def test_no_models_yet() -> None:
    panel = ModelsPanel()
    assert "No registered models yet" in panel.models_table.value
    assert panel.model.options == () and panel.promote_button.disabled


def test_versions_card_and_checks(churn: Callable[..., Any]) -> None:
    churn("churn", 2, True, True)
    nbmlops.set_alias("churn", "staging", 2, reason="try it")
    panel = ModelsPanel()
    assert panel.model.value == "churn" and panel.version.value == 2  # newest first
    assert "@staging" in panel.versions_table.value and "2 passed" in panel.versions_table.value
    assert "latest checks of churn/2" in panel.checks_html.value
    assert "churn/2" in panel.card.value
    panel.version.value = 1
    assert "never been checked" in panel.checks_html.value
    assert panel.promote_button.disabled and "never been checked" in panel.gate_html.value
    html = panel._repr_mimebundle_()["text/html"]
    assert "Versions of churn" in html and "<svg" not in html


def test_promotion_without_reason_is_refused(churn: Callable[..., Any]) -> None:
    churn("churn", 2, True)
    panel = ModelsPanel()
    panel.target.value = "production"
    before = _audit()
    panel.promote_button.click()
    assert "a reason is required" in panel.message.value
    assert _audit() == before
    assert "production" not in nbmlops.get_model_version("churn/2").aliases


def test_unchecked_version_is_refused_by_the_gate(churn: Callable[..., Any]) -> None:
    panel = ModelsPanel()
    panel.version.value = 1
    assert panel.promote_button.disabled  # known in advance, and said
    assert "never been checked" in panel.gate_html.value
    panel.reason.value = "ship it"
    before = _audit()
    panel.promote_button.click()  # clicked anyway (e.g. from code): the gate refuses
    assert "promotion refused" in panel.message.value
    assert "never been checked" in panel.message.value and "%%modeltest" in panel.message.value
    assert _audit() == before


def test_failed_checks_are_refused(churn: Callable[..., Any]) -> None:
    churn("churn", 1, True, False)
    panel = ModelsPanel()
    panel.version.value = 1
    assert "failed its latest checks (c1)" in panel.gate_html.value
    panel.reason.value = "ship it"
    panel.promote_button.click()
    assert "failed its latest checks (c1)" in panel.message.value
    assert _audit() == []


def test_promote_then_roll_back(churn: Callable[..., Any]) -> None:
    churn("churn", 1, True)
    churn("churn", 2, True)
    panel = ModelsPanel()
    panel.version.value, panel.target.value, panel.reason.value = 1, "production", "first"
    panel.promote_button.click()
    assert "churn@production → v1" in panel.message.value
    panel.version.value, panel.reason.value = 2, "better recall"
    panel.promote_button.click()
    assert nbmlops.get_model_version("churn@production").version == 2
    assert panel.reason.value == ""  # cleared after a recorded action
    assert panel.promote_button.disabled  # @production already points at v2
    panel.reason.value = "v2 misbehaves"
    panel.rollback_button.click()
    assert "rolled back to v1" in panel.message.value
    assert nbmlops.get_model_version("churn@production").version == 1
    audit = nbmlops.alias_history("churn")
    assert list(audit["reason"]) == ["first", "better recall", "rollback: v2 misbehaves"]


def test_rollback_without_history_is_refused(churn: Callable[..., Any]) -> None:
    panel = ModelsPanel()
    panel.target.value = "production"
    assert panel.rollback_button.disabled and "not set" in panel.gate_html.value
    panel.reason.value = "oops"
    panel.rollback_button.click()
    assert "rollback refused" in panel.message.value
    assert _audit() == []


def test_model_deleted_while_open(churn: Callable[..., Any]) -> None:
    from nbmlops.store import open_store
    from nbmlops.store import schema as s

    panel = ModelsPanel()
    sql, _ = open_store()
    with sql.engine.begin() as conn:  # another tool deletes the model
        for table in reversed(s.metadata.sorted_tables):
            if "name" in table.c and table.name in {"check_results", "alias_history",
                                                    "model_aliases", "model_versions",
                                                    "registered_models"}:
                conn.execute(table.delete().where(table.c.name == "churn"))
    panel.refresh_button.click()
    assert "model 'churn' no longer exists" in panel.message.value
    assert panel.model.value is None and "No registered models yet" in panel.models_table.value
