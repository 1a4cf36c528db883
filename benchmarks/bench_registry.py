"""Registry benchmark: nbmlops side by side with MLflow's model registry.

Run ``python benchmarks/bench_registry.py [--quick]``. For the same fitted scikit-learn
models it measures, per tool (median of several repeats, after one untimed warm-up):

* register: start a run, log the model, register it as the next version of a name;
* load: load that registered version back by reference (``name/3`` / ``models:/name/3``);
* size: bytes added to the artifact store by one logged model (MLflow also writes
  MLmodel, conda.yaml, requirements.txt… next to the model file; both shown).

MLflow runs twice: its default format (cloudpickle — loading runs arbitrary code, as
nbmlops's skops default does not) and ``serialization_format="skops"`` (like for like).
Ratios are MLflow / nbmlops: bigger means nbmlops is faster or smaller.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any


def dir_bytes(folder: Path) -> int:
    """Return the total size of the files under ``folder``."""
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) if folder.exists() else 0


def models() -> dict[str, tuple[Any, Any]]:
    """Return {label: (fitted model, input example)} trained on the breast-cancer data."""
    from sklearn.compose import ColumnTransformer
    from sklearn.datasets import load_breast_cancer
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    pipe = make_pipeline(ColumnTransformer([("num", StandardScaler(), list(X.columns))]),
                         LogisticRegression(max_iter=2000)).fit(X, y)
    forest = RandomForestClassifier(n_estimators=100, random_state=0).fit(X, y)
    return {"pipeline(scaler+logreg)": (pipe, X.head(5)),
            "random forest (100 trees)": (forest, X.head(5))}


class Nbmlops:
    """nbmlops: start_run + log_model + register_model; load_model("name/v")."""

    label = "nbmlops (skops)"

    def __init__(self, folder: Path) -> None:
        from nbmlops import store

        os.environ["NBMLOPS_HOME"] = str(folder / ".nbmlops")
        store.reset()
        self.artifacts = folder / ".nbmlops" / "artifacts"

    def register(self, name: str, model: Any, example: Any) -> str:
        import nbmlops

        with nbmlops.start_run("bench") as run:
            nbmlops.log_model(model, input_example=example)
        return nbmlops.register_model(name, run=run.id).ref

    def load(self, ref: str) -> Any:
        import nbmlops

        return nbmlops.load_model(ref)


class Mlflow:
    """MLflow: start_run + sklearn.log_model(registered_model_name=…); load models:/name/v."""

    def __init__(self, folder: Path, fmt: str) -> None:
        import mlflow

        for noisy in ("mlflow", "alembic"):  # mlflow sets its levels on import
            logging.getLogger(noisy).setLevel(logging.ERROR)
        self.fmt = fmt
        self.label = f"MLflow ({fmt})"
        self.artifacts = folder / f"mlflow-artifacts-{fmt}"
        self.uri = f"sqlite:///{folder}/mlflow-{fmt}.db"
        self._use()
        exp = mlflow.create_experiment(f"bench-{fmt}", artifact_location=self.artifacts.as_uri())
        self.experiment_id = exp

    def _use(self) -> None:
        import mlflow

        mlflow.set_tracking_uri(self.uri)
        mlflow.set_registry_uri(self.uri)

    def register(self, name: str, model: Any, example: Any) -> str:
        import mlflow

        self._use()
        extra: dict[str, Any] = {}
        if self.fmt == "skops":
            extra["skops_trusted_types"] = ["sklearn.tree._tree.Tree"]
        with mlflow.start_run(experiment_id=self.experiment_id):
            info = mlflow.sklearn.log_model(model, name="model", registered_model_name=name,
                                            serialization_format=self.fmt,
                                            input_example=example, **extra)
        return f"models:/{name}/{info.registered_model_version}"

    def load(self, ref: str) -> Any:
        import mlflow

        self._use()
        return mlflow.sklearn.load_model(ref)


def measure(tool: Any, name: str, model: Any, example: Any, repeats: int) -> dict[str, float]:
    """Return median register/load seconds and the bytes one logged model adds."""
    ref = tool.register(f"{name}-warmup", model, example)  # imports, schema creation
    tool.load(ref)
    reg, load, sizes, files = [], [], [], []
    for _ in range(repeats):
        before, listed = dir_bytes(tool.artifacts), _files(tool.artifacts)
        t = time.perf_counter()
        ref = tool.register(name, model, example)
        reg.append(time.perf_counter() - t)
        sizes.append(dir_bytes(tool.artifacts) - before)
        files.append(_model_file_bytes(tool, _files(tool.artifacts) - listed))
        t = time.perf_counter()
        loaded = tool.load(ref)
        load.append(time.perf_counter() - t)
        assert type(loaded) is type(model)
    return {"register": statistics.median(reg), "load": statistics.median(load),
            "size": statistics.median(sizes), "model_file": statistics.median(files)}


def _files(folder: Path) -> set[Path]:
    return {p for p in folder.rglob("*") if p.is_file()} if folder.exists() else set()


def _model_file_bytes(tool: Any, new: set[Path]) -> float:
    """Return the size of the model file among the files one registration added."""
    if isinstance(tool, Nbmlops):  # a content-addressed blob: the model file itself
        return float(sum(p.stat().st_size for p in new))
    return float(sum(p.stat().st_size for p in new if p.name in {"model.pkl", "model.skops"}))


def _fmt_row(cells: list[str], widths: list[int]) -> str:
    return "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True))


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark and print the table and the ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 repeats instead of 7")
    args = parser.parse_args(argv)
    repeats = 3 if args.quick else 7
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "ERROR")
    logging.getLogger("mlflow").setLevel(logging.ERROR)
    logging.getLogger("alembic").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    results: dict[tuple[str, str], dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-registry-") as tmp:
        folder = Path(tmp)
        makers: list[Callable[[], Any]] = [lambda: Nbmlops(folder),
                                           lambda: Mlflow(folder, "cloudpickle"),
                                           lambda: Mlflow(folder, "skops")]
        tools = [make() for make in makers]
        for label, (model, example) in models().items():
            for i, tool in enumerate(tools):
                results[(label, tool.label)] = measure(tool, f"m{i}", model, example, repeats)
    _report(results, repeats)


def _report(results: dict[tuple[str, str], dict[str, float]], repeats: int) -> None:
    header = ["model", "tool", "register s", "load s", "artifact bytes", "model file bytes"]
    rows = [[m, t, f"{r['register']:.4f}", f"{r['load']:.4f}", f"{r['size']:,.0f}",
             f"{r['model_file']:,.0f}"] for (m, t), r in results.items()]
    widths = [max(len(x), *(len(r[i]) for r in rows)) for i, x in enumerate(header)]
    print(f"median of {repeats} repeats after one warm-up\n")
    print(_fmt_row(header, widths))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print(_fmt_row(row, widths))
    print("\nratios MLflow / nbmlops (bigger = nbmlops faster or smaller)")
    for model in dict.fromkeys(m for m, _ in results):
        nb = results[(model, "nbmlops (skops)")]
        for (m, tool), r in results.items():
            if m != model or tool.startswith("nbmlops"):
                continue
            print(f"  {model:<26} {tool:<20} register x{r['register'] / nb['register']:.1f}"
                  f"  load x{r['load'] / nb['load']:.1f}  artifact bytes x"
                  f"{r['size'] / nb['size']:.2f}  model file x"
                  f"{r['model_file'] / nb['model_file']:.2f}")


if __name__ == "__main__":
    main()
