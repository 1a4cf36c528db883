"""Aliases with their audit log, and promotion gated on the latest checks."""

from __future__ import annotations

import pytest

import nbmlops
from nbmlops.errors import InvalidNameError, ModelNotFound, ValidationError
from nbmlops.registry.aliases import PromotionBlocked, model_aliases, previous_version
from nbmlops.registry.versions import _registry, current_user


@pytest.fixture()
def two_versions(trained_run) -> None:
    nbmlops.register_model("churn", run=trained_run(C=1.0).id)
    nbmlops.register_model("churn", run=trained_run(C=0.1).id)


def _checks(version: int, *passed: bool) -> None:
    reg, _ = _registry()
    import uuid

    reg.add_check_results("churn", version, uuid.uuid4().hex,
                          [{"check": f"c{i}", "passed": p} for i, p in enumerate(passed)])


def test_alias_moves_are_audited(two_versions) -> None:
    nbmlops.set_alias("churn", "production", 1, reason="first release")
    nbmlops.set_alias("churn", "production", 2, reason="better recall")
    assert nbmlops.get_model_version("churn@production").version == 2
    assert nbmlops.get_model_version("churn/2").aliases == ["production"]
    nbmlops.delete_alias("churn", "production", reason="incident")
    hist = nbmlops.alias_history("churn")
    assert list(hist["from_version"].fillna(0)) == [0, 1, 2]
    assert list(hist["to_version"].fillna(0)) == [1, 2, 0]
    assert list(hist["reason"]) == ["first release", "better recall", "incident"]
    assert set(hist["user"]) == {current_user()}
    assert str(hist["at"].dt.tz) == "UTC"
    with pytest.raises(ModelNotFound, match="churn@production"):
        nbmlops.get_model_version("churn@production")


def test_model_aliases_maps_each_alias_to_its_version(two_versions) -> None:
    assert model_aliases("churn") == {}
    nbmlops.set_alias("churn", "staging", 2)
    nbmlops.set_alias("churn", "production", 1)
    assert model_aliases("churn") == {"production": 1, "staging": 2}
    assert model_aliases("unknown-model") == {}
    with pytest.raises(InvalidNameError, match="model"):
        model_aliases("no such/model")


def test_alias_pointing_nowhere_changes_nothing(two_versions, store_snapshot) -> None:
    nbmlops.set_alias("churn", "staging", 1)
    before = store_snapshot()
    with pytest.raises(ModelNotFound, match="churn has aliases staging"):
        nbmlops.get_model_version("churn@production")
    with pytest.raises(ModelNotFound, match="churn/9"):
        nbmlops.set_alias("churn", "production", 9)
    with pytest.raises(ModelNotFound, match="churn@production"):
        nbmlops.delete_alias("churn", "production")
    with pytest.raises(ModelNotFound):
        nbmlops.load_model("churn@production")
    with pytest.raises(InvalidNameError, match="alias"):
        nbmlops.set_alias("churn", "prod uction", 1)
    assert store_snapshot() == before


def test_promote_requires_checks_that_ran(two_versions, store_snapshot) -> None:
    before = store_snapshot()
    with pytest.raises(PromotionBlocked, match="never been checked"):
        nbmlops.promote("churn", 1, "production")
    assert store_snapshot() == before


def test_promote_refuses_failed_checks(two_versions, store_snapshot) -> None:
    _checks(1, True, False)
    before = store_snapshot()
    with pytest.raises(PromotionBlocked, match="failed its latest checks \\(c1\\)"):
        nbmlops.promote("churn", 1, "production")
    assert store_snapshot() == before


def test_only_the_latest_batch_counts(two_versions) -> None:
    _checks(1, False)
    _checks(1, True, True)
    assert nbmlops.promote("churn", 1, "production").aliases == ["production"]
    _checks(2, True)
    _checks(2, False)
    with pytest.raises(PromotionBlocked):
        nbmlops.promote("churn", 2, "production")


def test_promote_by_alias_and_rollback(two_versions) -> None:
    _checks(1, True)
    _checks(2, True)
    nbmlops.promote("churn", 1, "production", reason="v1")
    nbmlops.set_alias("churn", "staging", 2)
    mv = nbmlops.promote("churn", "staging", "production")
    assert mv.version == 2 and sorted(mv.aliases) == ["production", "staging"]
    assert previous_version("churn", "production") == 1
    hist = nbmlops.alias_history("churn")
    assert not hist["forced"].any()


def test_force_needs_a_reason_and_is_audited(two_versions, store_snapshot) -> None:
    before = store_snapshot()
    with pytest.raises(ValidationError, match="reason"):
        nbmlops.promote("churn", 2, "production", force=True)
    assert store_snapshot() == before
    nbmlops.promote("churn", 2, "production", force=True, reason="hotfix")
    last = nbmlops.alias_history("churn").iloc[-1]
    assert (last["alias"], last["to_version"], last["reason"], bool(last["forced"])) == \
        ("production", 2, "hotfix", True)


def test_previous_version_without_history(two_versions) -> None:
    nbmlops.set_alias("churn", "production", 1)
    with pytest.raises(ValidationError, match="no earlier version"):
        previous_version("churn", "production")
