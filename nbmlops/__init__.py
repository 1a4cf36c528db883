"""nbmlops: Jupyter-native MLOps — tracking, registry, serving, pipelines, monitoring.

Importing this package is cheap: the public names below are loaded on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from nbmlops._version import __version__

if TYPE_CHECKING:
    from nbmlops.monitoring.alerts import (
        add_alert_rule,
        alert_rules,
        alerts,
        check_alerts,
        remove_alert_rule,
    )
    from nbmlops.monitoring.drift import DriftReport, drift
    from nbmlops.monitoring.reference import drift_reference
    from nbmlops.monitoring.report import monitor, monitor_history
    from nbmlops.pipelines.outputs import output
    from nbmlops.pipelines.runner import run_pipeline
    from nbmlops.registry.aliases import alias_history, delete_alias, promote, set_alias
    from nbmlops.registry.lineage import lineage
    from nbmlops.registry.versions import (
        ModelVersion,
        compare_versions,
        get_model_version,
        list_models,
        list_versions,
        load_model,
        register_model,
    )
    from nbmlops.serving.deployments import deploy
    from nbmlops.tracking.api import (
        active_run,
        end_run,
        get_run,
        last_run,
        log_artifact,
        log_dataset,
        log_metric,
        log_metrics,
        log_model,
        log_param,
        log_params,
        resolve_run,
        runs,
        set_tag,
        set_tags,
        start_run,
    )
    from nbmlops.tracking.bulk import log_runs
    from nbmlops.tracking.diff import RunDiff, diff_runs
    from nbmlops.tracking.info import StoreInfo, store_info
    from nbmlops.tracking.paging import RunsPage, experiments, runs_page
    from nbmlops.tracking.run import Run
    from nbmlops.widgets.dashboard import dashboard

#: public name -> module that defines it (imported lazily, on first attribute access)
_EXPORTS: dict[str, str] = {
    "ModelVersion": "nbmlops.registry.versions",
    "output": "nbmlops.pipelines.outputs",
    "run_pipeline": "nbmlops.pipelines.runner",
    "Run": "nbmlops.tracking.run",
    "RunDiff": "nbmlops.tracking.diff",
    "diff_runs": "nbmlops.tracking.diff",
    "RunsPage": "nbmlops.tracking.paging",
    "StoreInfo": "nbmlops.tracking.info",
    "log_runs": "nbmlops.tracking.bulk",
    "export_mlflow": "nbmlops.interop.mlflow_export",
    "import_mlflow": "nbmlops.interop.mlflow_import",
    "experiments": "nbmlops.tracking.paging",
    "runs_page": "nbmlops.tracking.paging",
    "store_info": "nbmlops.tracking.info",
    "alias_history": "nbmlops.registry.aliases",
    "compare_versions": "nbmlops.registry.versions",
    "delete_alias": "nbmlops.registry.aliases",
    "dashboard": "nbmlops.widgets.dashboard",
    "deploy": "nbmlops.serving.deployments",
    "get_model_version": "nbmlops.registry.versions",
    "lineage": "nbmlops.registry.lineage",
    "list_models": "nbmlops.registry.versions",
    "list_versions": "nbmlops.registry.versions",
    "load_model": "nbmlops.registry.versions",
    "promote": "nbmlops.registry.aliases",
    "register_model": "nbmlops.registry.versions",
    "set_alias": "nbmlops.registry.aliases",
    "active_run": "nbmlops.tracking.api",
    "end_run": "nbmlops.tracking.api",
    "get_run": "nbmlops.tracking.api",
    "last_run": "nbmlops.tracking.api",
    "log_artifact": "nbmlops.tracking.api",
    "log_dataset": "nbmlops.tracking.api",
    "log_metric": "nbmlops.tracking.api",
    "log_metrics": "nbmlops.tracking.api",
    "log_model": "nbmlops.tracking.api",
    "log_param": "nbmlops.tracking.api",
    "log_params": "nbmlops.tracking.api",
    "monitor": "nbmlops.monitoring.report",
    "monitor_history": "nbmlops.monitoring.report",
    "DriftReport": "nbmlops.monitoring.drift",
    "drift": "nbmlops.monitoring.drift",
    "drift_reference": "nbmlops.monitoring.reference",
    "add_alert_rule": "nbmlops.monitoring.alerts",
    "alert_rules": "nbmlops.monitoring.alerts",
    "alerts": "nbmlops.monitoring.alerts",
    "check_alerts": "nbmlops.monitoring.alerts",
    "remove_alert_rule": "nbmlops.monitoring.alerts",
    "resolve_run": "nbmlops.tracking.api",
    "runs": "nbmlops.tracking.api",
    "set_tag": "nbmlops.tracking.api",
    "set_tags": "nbmlops.tracking.api",
    "start_run": "nbmlops.tracking.api",
}

# a literal list, so that type checkers see the lazily imported names as exported
__all__ = [
    "DriftReport",
    "ModelVersion",
    "Run",
    "RunDiff",
    "RunsPage",
    "StoreInfo",
    "__version__",
    "active_run",
    "add_alert_rule",
    "alert_rules",
    "alerts",
    "alias_history",
    "check_alerts",
    "compare_versions",
    "dashboard",
    "delete_alias",
    "deploy",
    "diff_runs",
    "drift",
    "drift_reference",
    "end_run",
    "experiments",
    "export_mlflow",
    "get_model_version",
    "get_run",
    "import_mlflow",
    "last_run",
    "lineage",
    "list_models",
    "list_versions",
    "load_ipython_extension",
    "load_model",
    "log_artifact",
    "log_dataset",
    "log_metric",
    "log_metrics",
    "log_model",
    "log_param",
    "log_params",
    "log_runs",
    "monitor",
    "monitor_history",
    "output",
    "promote",
    "register_model",
    "remove_alert_rule",
    "resolve_run",
    "run_pipeline",
    "runs",
    "runs_page",
    "set_alias",
    "set_tag",
    "set_tags",
    "start_run",
    "store_info",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'nbmlops' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__


def load_ipython_extension(ipython: Any) -> None:
    """Register the nbmlops magics (``%load_ext nbmlops``).

    Parameters
    ----------
    ipython : InteractiveShell
        The shell to register ``%%track``, ``%runs``, ``%register``... on.
    """
    from nbmlops.magics import register

    register(ipython)


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    """Tell jupyter_server where the sidebar's REST extension lives (imported only then)."""
    return [{"module": "nbmlops.server_ext"}]


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    """Tell ``jupyter labextension develop`` where the built sidebar extension is."""
    return [{"src": "labextension", "dest": "nbmlops"}]
