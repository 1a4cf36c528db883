"""Every CLI error a caller can cause: one ``Error:`` line, no traceback, the right exit code.

The table runs each case through the real entry point, ``nbmlops.cli.main`` (what the
console script calls), not click's ``CliRunner``: CliRunner turns a crash into exit 1, so a
test that only checks the exit code would pass on a traceback. Here a crash escapes
``main`` and fails the test. Each case also checks that the store is unchanged.
"""

from __future__ import annotations

import hashlib
import importlib.util
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import nbmlops
from nbmlops.errors import ConfigError, FilterError
from nbmlops.store import reset

DEEP_FILTER = "(" * 2000 + "metrics.acc > 1" + ")" * 2000
BIG = "99999999999999999999"


def _laughs() -> str:
    lines = ["name: laughs", "params:", "  a0: &a0 [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]"]
    lines += [f"  a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 7)]
    return "\n".join(lines + ["steps:", "  s: {notebook: train.ipynb}", ""])


#: files a case may name as {tmp}/NAME
FILES: dict[str, bytes] = {
    "latin1.yaml": "name: caf\u00e9\nsteps: {}\n".encode("latin-1"),
    "deep.yaml": b"name: deep\nparams:\n  a: " + b"[" * 5000 + b"]" * 5000 + b"\n",
    "laughs.yaml": _laughs().encode(),
    "huge.yaml": b"# " + b"x" * (1 << 20) + b"\n",
    "a-file": b"not a folder",
    "checks.ipynb": b'{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}',
}

#: (id, argv, extra environment, exit code, text the one line must contain)
CASES: list[tuple[str, list[str], dict[str, str], int, str]] = [
    ("filter nested 2,000 deep", ["runs", "list", "--filter", DEEP_FILTER], {}, 1,
     "parentheses nested more than 50 deep"),
    ("too many order_by items", ["runs", "list", *["--order-by", "start_time"] * 21], {}, 1,
     "at most 20"),
    ("max-results overflow", ["runs", "list", "--max-results", BIG], {}, 2,
     "'--max-results' / '-n': 99999999999999999999 is not in the range"),
    ("max-results not a number", ["runs", "list", "-n", "many"], {}, 2, "'many' is not"),
    ("model version overflow", ["models", "show", f"m/{BIG}"], {}, 1, "too large"),
    ("alias version overflow", ["models", "alias", "set", "m", "prod", BIG], {}, 1,
     "too large"),
    ("pipeline file not UTF-8", ["pipeline", "validate", "{tmp}/latin1.yaml"], {}, 1,
     "latin1.yaml:1: not UTF-8 text (byte 0xe9"),
    ("pipeline run, not UTF-8", ["pipeline", "run", "{tmp}/latin1.yaml"], {}, 1,
     "not UTF-8 text"),
    ("pipeline nested 5,000 deep", ["pipeline", "validate", "{tmp}/deep.yaml"], {}, 1,
     "deep.yaml:3: values nested more than 50 deep"),
    ("pipeline alias bomb", ["pipeline", "validate", "{tmp}/laughs.yaml"], {}, 1,
     "expands to more than 100,000 values"),
    ("pipeline file over 1 MiB", ["pipeline", "validate", "{tmp}/huge.yaml"], {}, 1,
     "a pipeline file holds at most 1,048,576"),
    ("package --out under a file", ["package", "m/1", "--out", "{tmp}/a-file/out"], {}, 1,
     "a-file is a file, not a folder"),
    ("package --out is a file", ["package", "m/1", "--out", "{tmp}/a-file"], {}, 2,
     "is a file"),
    ("unknown artifact protocol", ["runs", "list"],
     {"NBMLOPS_ARTIFACT_URL": "nosuchproto://x"}, 1,
     "artifact URL 'nosuchproto://x' cannot be used (Protocol not known: nosuchproto)"),
    ("artifact protocol without its package", ["runs", "list"],
     {"NBMLOPS_ARTIFACT_URL": "gs://bucket/x"}, 1, "needs a package that is not installed"),
    ("models check -p with bad YAML", ["models", "check", "m@x", "--notebook",
                                       "{tmp}/checks.ipynb", "-p", "a=[1"], {}, 1,
     "model 'm@x' not found"),
    ("models check -p without =", ["models", "check", "m@x", "--notebook",
                                   "{tmp}/checks.ipynb", "-p", "novalue"], {}, 1,
     "parameter 'novalue' must look like key=value"),
    ("reproduce --rtol nan", ["reproduce", "abc", "--rtol", "nan"], {}, 2,
     "nan is not a finite number"),
    ("run id too short", ["runs", "show", "abc"], {}, 1, "too short"),
    ("unknown option", ["runs", "list", "--bogus"], {}, 2,
     "No such option '--bogus'. (see 'nbmlops runs list --help')"),
    ("unknown command", ["nope"], {}, 2, "No such command 'nope'"),
    ("unreachable store, password hidden", ["runs", "list"],
     {"NBMLOPS_STORE_URL": "postgresql+psycopg://u:hunter2-pw@127.0.0.1:1/db"}, 1,
     "u:***@127.0.0.1:1/db"),
]


def _snapshot(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def populated(nbmlops_home: Path) -> Path:
    """A store with one finished run, closed so its files can be compared."""
    with nbmlops.start_run("existing", params={"a": 1}):
        nbmlops.log_metric("acc", 0.9)
    reset()
    return nbmlops_home


@pytest.mark.parametrize(("argv", "env", "code", "expected"),
                         [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_cli_error_is_one_line(argv: list[str], env: dict[str, str], code: int, expected: str,
                               populated: Path, tmp_path: Path,
                               monkeypatch: pytest.MonkeyPatch,
                               capsys: pytest.CaptureFixture[str]) -> None:
    from nbmlops.cli import main

    if env.get("NBMLOPS_ARTIFACT_URL", "").startswith("gs:"):
        if importlib.util.find_spec("gcsfs") is not None:
            pytest.skip("gcsfs is installed: gs:// URLs are usable here")
    for name, content in FILES.items():
        (tmp_path / name).write_bytes(content)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    before = _snapshot(populated)
    with pytest.raises(SystemExit) as info:  # anything else escaping main is a crash
        main([arg.replace("{tmp}", str(tmp_path)) for arg in argv])
    out, err = capsys.readouterr()
    assert info.value.code == code, err
    assert err.startswith("Error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err and expected in err, err
    assert "hunter2" not in err
    assert len(err) < 400
    assert out == ""
    reset()
    assert _snapshot(populated) == before


def test_console_script_prints_one_line(populated: Path) -> None:
    """The same promise through a real process (python -m nbmlops)."""
    proc = subprocess.run([sys.executable, "-m", "nbmlops", "runs", "list", "--filter",
                           DEEP_FILTER], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and "nested more than 50 deep" in proc.stderr


def test_api_raises_filter_error_for_deep_filters(populated: Path) -> None:
    with pytest.raises(FilterError, match="nested more than 50 deep"):
        nbmlops.runs(filter=DEEP_FILTER)


def test_bad_artifact_url_closes_the_metadata_store(populated: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from nbmlops.store.sql import SqlStore

    closed: list[Any] = []
    original = SqlStore.close
    monkeypatch.setattr(SqlStore, "close", lambda self: (closed.append(self), original(self)))
    monkeypatch.setenv("NBMLOPS_ARTIFACT_URL", "nosuchproto://x")
    with pytest.raises(ConfigError, match="nosuchproto"):
        nbmlops.runs()
    assert len(closed) == 1


def test_runs_magic_with_bad_artifact_url(ip: Any, populated: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from IPython.core.error import UsageError

    monkeypatch.setenv("NBMLOPS_ARTIFACT_URL", "nosuchproto://x")
    with pytest.raises(UsageError, match="artifact URL 'nosuchproto://x' cannot be used"):
        ip.run_line_magic("runs", "")


def test_package_out_in_an_unwritable_folder(populated: Path) -> None:
    """--out inside a folder the user cannot write: one line, before anything is looked up."""
    import os
    import shutil
    import tempfile

    from tests.conftest import require

    drop: list[str] = []
    if os.geteuid() == 0:  # root ignores permission bits unless its capabilities are dropped
        require(shutil.which("setpriv") is not None, "needs setpriv to drop capabilities")
        drop = ["setpriv", "--bounding-set=-all", "--inh-caps=-all", "--ambient-caps=-all"]
    base = Path(tempfile.mkdtemp(prefix="nbmlops-out-"))
    locked = base / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        proc = subprocess.run([*drop, sys.executable, "-m", "nbmlops", "package", "m/1",
                               "--out", str(locked / "pkg")],
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 1 and proc.stdout == ""
        assert proc.stderr == f"Error: cannot write {locked / 'pkg'}: {locked} is not writable\n"
        assert list(locked.iterdir()) == []
    finally:
        locked.chmod(0o755)
        shutil.rmtree(base)


@pytest.mark.parametrize("magic", ["register", "deploy", "pipeline"])
def test_magic_line_with_an_unclosed_quote_is_a_usage_error(ip: Any, magic: str) -> None:
    """Magics built on magic_arguments report an unsplittable line as one UsageError."""
    from IPython.core.error import UsageError

    with pytest.raises(UsageError, match="cannot split the arguments: No closing quotation"):
        ip.run_line_magic(magic, 'churn --run "last')


def test_s3_artifact_url_without_s3fs(populated: Path, monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    """s3:// without s3fs installed names the extra that installs it (simulated: s3fs hidden)."""
    from nbmlops.cli import main

    loaded = importlib.import_module("fsspec.registry")._registry  # classes already imported
    monkeypatch.setitem(sys.modules, "s3fs", None)  # import s3fs now raises ImportError
    monkeypatch.delitem(loaded, "s3", raising=False)
    monkeypatch.setenv("NBMLOPS_ARTIFACT_URL", "s3://bucket/prefix")
    with pytest.raises(SystemExit) as info:
        main(["runs", "list"])
    err = capsys.readouterr().err
    assert info.value.code == 1
    assert err == ("Error: s3fs is required for this feature; install it with "
                   "pip install 'nbmlops[s3]'\n")


def test_package_write_failure_leaves_nothing(tmp_path: Path) -> None:
    """A failed write while packaging leaves no half-written folder (nor its temp copy)."""
    from nbmlops.serving.package import _write_all

    out = tmp_path / "pkg"
    with pytest.raises(OSError):  # the second file needs "a.txt" to be a folder
        _write_all(out, {"a.txt": b"1", "a.txt/b.txt": b"2"})
    assert list(tmp_path.iterdir()) == []
    _write_all(out, {"model/m.bin": b"1", "README.md": b"2"})
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()) == \
        ["README.md", "model/m.bin"]
    _write_all(out, {"README.md": b"3"})  # an existing folder (--force) gets files replaced
    assert (out / "README.md").read_bytes() == b"3" and list(tmp_path.iterdir()) == [out]
