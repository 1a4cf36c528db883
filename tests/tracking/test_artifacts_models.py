"""log_artifact, log_model and log_dataset on a run."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import nbmlops
from nbmlops.errors import InvalidNameError, UnsafeModelError, ValidationError


def _blob_files(home: Path) -> list[Path]:
    root = home / "artifacts"
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def test_log_file_and_folder(tmp_path: Path) -> None:
    (tmp_path / "report.txt").write_text("hello")
    folder = tmp_path / "plots"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.csv").write_text("x\n1\n")
    (folder / "sub" / "b.json").write_text("{}")
    with nbmlops.start_run() as run:
        nbmlops.log_artifact(tmp_path / "report.txt")
        nbmlops.log_artifact(str(tmp_path / "report.txt"), name="copies/report.txt")
        infos = nbmlops.log_artifact(folder)
    assert [i.name for i in infos] == ["plots/a.csv", "plots/sub/b.json"]
    names = {a.name: a for a in run.artifacts}
    assert set(names) == {"report.txt", "copies/report.txt", "plots/a.csv", "plots/sub/b.json"}
    assert names["report.txt"].media_type == "text/plain"
    assert names["report.txt"].sha256 == names["copies/report.txt"].sha256
    assert run.load_artifact("plots/sub/b.json") == b"{}"


def test_identical_artifacts_share_one_blob(nbmlops_home: Path) -> None:
    with nbmlops.start_run():
        nbmlops.log_artifact(b"same", name="a.bin")
    with nbmlops.start_run():
        nbmlops.log_artifact(b"same", name="b.bin")
    assert len(_blob_files(nbmlops_home)) == 1


def test_log_text_and_bytes() -> None:
    with nbmlops.start_run() as run:
        (text,) = nbmlops.log_artifact("not a path, just text", name="notes.md")
        (raw,) = nbmlops.log_artifact(b"\x00\x01", name="raw.bin")
        with pytest.raises(ValidationError, match="needs name="):
            nbmlops.log_artifact(b"no name")
    assert text.media_type == "text/markdown"
    assert run.load_artifact("notes.md") == b"not a path, just text"
    assert raw.sha256 == hashlib.sha256(b"\x00\x01").hexdigest() and raw.size == 2


def test_log_matplotlib_figure() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.plot([1, 2, 3])
    with nbmlops.start_run() as run:
        (info,) = nbmlops.log_artifact(fig, name="curve.png")
    plt.close(fig)
    assert info.media_type == "image/png"
    assert run.load_artifact("curve.png").startswith(b"\x89PNG\r\n\x1a\n")


def test_log_dataframe() -> None:
    df = pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})
    with nbmlops.start_run() as run:
        (csv,) = nbmlops.log_artifact(df, name="table.csv")
        (js,) = nbmlops.log_artifact(df, name="table.json")
    assert csv.media_type == "text/csv"
    back = pd.read_csv(io.BytesIO(run.load_artifact("table.csv")), index_col=0)
    pd.testing.assert_frame_equal(back, df)
    assert js.media_type == "application/json"
    assert run.load_artifact("table.json") == b'[{"a":1,"b":"x"},{"a":2,"b":"y"}]'


def test_unsupported_artifact_type() -> None:
    with nbmlops.start_run(), pytest.raises(ValidationError, match="cannot log a object"):
        nbmlops.log_artifact(object(), name="x")


@pytest.mark.parametrize("name", ["../x", "/etc/passwd", "a/../../b", "./a", "a//b", "C:/x",
                                  "x" * 251])
def test_escaping_artifact_names_rejected(name: str, nbmlops_home: Path,
                                          tmp_path: Path) -> None:
    (tmp_path / "f.txt").write_text("data")
    with nbmlops.start_run() as run:
        with pytest.raises(InvalidNameError):
            nbmlops.log_artifact("text", name=name)
        with pytest.raises(InvalidNameError):
            nbmlops.log_artifact(tmp_path / "f.txt", name=name)
        with pytest.raises(InvalidNameError):
            nbmlops.log_artifact(b"bytes", name=name)
    assert run.artifacts == []
    assert _blob_files(nbmlops_home) == []  # nothing written, not even a blob


def test_folder_with_one_bad_file_name_stores_nothing(tmp_path: Path,
                                                      nbmlops_home: Path) -> None:
    folder = tmp_path / "out"
    folder.mkdir()
    (folder / "good.txt").write_text("1")
    (folder / "bad#name.txt").write_text("2")
    with nbmlops.start_run() as run, pytest.raises(InvalidNameError):
        nbmlops.log_artifact(folder)
    assert run.artifacts == [] and _blob_files(nbmlops_home) == []


@pytest.mark.parametrize("target", ["outside", "dangling", "outside-folder"])
def test_folder_with_a_link_leading_out_is_refused(tmp_path: Path, nbmlops_home: Path,
                                                   target: str) -> None:
    """log_artifact(folder) does not follow symbolic links that leave the folder."""
    secret = tmp_path / "id_rsa"
    secret.write_text("PRIVATE")
    folder = tmp_path / "out"
    (folder / "sub").mkdir(parents=True)
    (folder / "ok.txt").write_text("1")
    link = folder / "sub" / "key"
    pointed = {"outside": secret, "dangling": tmp_path / "gone", "outside-folder": tmp_path}
    link.symlink_to(pointed[target])
    with nbmlops.start_run() as run, pytest.raises(ValidationError) as info:
        nbmlops.log_artifact(folder)
    message = str(info.value)
    assert str(link) in message and "symbolic link" in message and "\n" not in message
    assert run.artifacts == [] and _blob_files(nbmlops_home) == []


def test_folder_with_a_link_inside_it_logs_the_content(tmp_path: Path) -> None:
    folder = tmp_path / "out"
    folder.mkdir()
    (folder / "real.txt").write_text("data")
    (folder / "alias.txt").symlink_to(folder / "real.txt")
    (folder / "same-dir").symlink_to(folder)  # a folder link is not descended into
    with nbmlops.start_run() as run:
        nbmlops.log_artifact(folder)
    assert sorted(a.name for a in run.artifacts) == ["out/alias.txt", "out/real.txt"]
    assert run.load_artifact("out/alias.txt") == b"data"


def _iris() -> tuple[pd.DataFrame, np.ndarray]:
    from sklearn.datasets import load_iris

    data = load_iris(as_frame=True)
    return data.data, data.target.to_numpy()


def test_log_sklearn_model_roundtrip() -> None:
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = _iris()
    model = make_pipeline(StandardScaler(),
                          RandomForestClassifier(n_estimators=10, random_state=0)).fit(X, y)
    with nbmlops.start_run() as run:
        info = nbmlops.log_model(model, input_example=X.head(3))
    assert info.name == "model" and info.media_type == "application/x-skops"
    loaded = nbmlops.get_run(run.id).load_model()
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    _, meta = nbmlops.store.open_store()[0].get_artifact(run.id, "model")
    assert meta["signature"]["columns"] == list(X.columns)
    assert meta["signature"]["dtypes"] == ["float64"] * 4
    assert len(meta["input_example"]) == 3


def test_signature_from_fitted_model_without_example() -> None:
    from sklearn.linear_model import LogisticRegression

    X, y = _iris()
    with nbmlops.start_run() as run:
        nbmlops.log_model(LogisticRegression(max_iter=500).fit(X, y), name="lr")
    _, meta = nbmlops.store.open_store()[0].get_artifact(run.id, "lr")
    assert meta["signature"]["columns"] == list(X.columns)


class Custom:
    """Not a scikit-learn estimator: no safe format exists."""

    def predict(self, X: object) -> list[int]:
        return [0]


def test_unsafe_models_refused(nbmlops_home: Path) -> None:
    from sklearn.preprocessing import FunctionTransformer

    X, _ = _iris()
    lam = FunctionTransformer(lambda v: v * 2).fit(X)
    with nbmlops.start_run() as run:
        with pytest.raises(UnsafeModelError, match="no safe format for a .*Custom"):
            nbmlops.log_model(Custom())
        with pytest.raises(UnsafeModelError, match="lambda|trusted policy"):
            nbmlops.log_model(lam, name="lam")
    assert run.artifacts == [] and _blob_files(nbmlops_home) == []


def test_load_model_of_a_non_model_artifact() -> None:
    with nbmlops.start_run() as run:
        nbmlops.log_artifact("x", name="notes.txt")
    with pytest.raises(ValidationError, match="not a model"):
        run.load_model("notes.txt")


def test_dataset_fingerprint_stability_and_changes() -> None:
    df = pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": ["x", "y", "z"]})
    with nbmlops.start_run() as run:
        first = nbmlops.log_dataset(df, "train")
    fp = first.fingerprint
    assert nbmlops.tracking.datasets.fingerprint(df.copy(), "again").fingerprint == fp
    variants = [
        df.assign(a=[1.0, 2.0, 3.5]),  # one value
        df.rename(columns={"b": "c"}),  # a column name
        df.astype({"a": "float32"}),  # a dtype
        df.iloc[:2],  # a row fewer
        df[["b", "a"]],  # column order
        df.set_axis([0, 1, 5]),  # the index
    ]
    fps = {nbmlops.tracking.datasets.fingerprint(v, "v").fingerprint for v in variants}
    assert fp not in fps and len(fps) == len(variants)
    (stored,) = run.datasets
    assert stored.fingerprint == fp and stored.shape == (3, 2)
    assert stored.columns == ["a", "b"] and stored.dtypes == [str(t) for t in df.dtypes]
    stats = stored.stats
    assert stats["rows"] == 3
    assert stats["columns"]["a"]["mean"] == 2.0 and stats["columns"]["a"]["min"] == 1.0
    assert sum(stats["columns"]["a"]["histogram"]["counts"]) == 3
    assert stats["columns"]["b"]["unique"] == 3


def test_dataset_array_and_file(tmp_path: Path) -> None:
    arr = np.arange(12, dtype=float).reshape(4, 3)
    path = tmp_path / "data.csv"
    path.write_text("a,b\n1,2\n")
    with nbmlops.start_run() as run:
        a = nbmlops.log_dataset(arr, "X")
        f = nbmlops.log_dataset(path, "raw")
        nbmlops.log_dataset(arr * 2, "pred", role="output")
        with pytest.raises(ValidationError, match="role"):
            nbmlops.log_dataset(arr, "X", role="both")
        with pytest.raises(ValidationError, match="log a pandas DataFrame"):
            nbmlops.log_dataset([1, 2], "lst")
    same = nbmlops.tracking.datasets.fingerprint(arr.copy(), "X")
    assert a.fingerprint == same.fingerprint
    changed = arr.copy()
    changed[0, 0] = 99
    assert nbmlops.tracking.datasets.fingerprint(changed, "X").fingerprint != a.fingerprint
    assert a.shape == (4, 3) and a.stats["columns"]["0"]["max"] == 9.0
    assert f.fingerprint == hashlib.sha256(b"a,b\n1,2\n").hexdigest() and f.kind == "file"
    roles = sorted((d.name, d.role) for d in run.datasets)
    assert roles == [("X", "input"), ("pred", "output"), ("raw", "input")]
