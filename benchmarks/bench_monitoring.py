"""Benchmark: data drift of 1,000,000 current rows x 20 features against a 100,000-row reference.

Run: ``python benchmarks/bench_monitoring.py [--rows N --ref-rows M] [--repeat R]
[--evidently PYTHON]``. Side by side in one run, on the same data:

- **nbmlops**: ``nbmlops.drift(reference, current)`` with a precomputed
  ``nbmlops.drift_reference(reference_df)`` (KS + chi-square + PSI + Wasserstein + BH +
  per-column notes); building that reference once is timed on its own;
- **scipy**: plain ``scipy.stats.ks_2samp`` per numeric column and
  ``scipy.stats.chi2_contingency`` on value counts per categorical column;
- **numpy pass**: a hand-vectorised pass with a precomputed reference (sorted values,
  category counts): sort the current column, two ``searchsorted`` for KS with the
  asymptotic p-value, ``bincount`` chi-square - the floor any Python implementation can
  reach;
- **Evidently** (``DataDriftPreset``), when ``--evidently`` names the python of a venv where
  it is installed (it needs pandas < 3, so it cannot live beside nbmlops): the data goes
  over as an ``.npz`` and the run happens in that interpreter.

15 numeric and 5 categorical features; 7 are shifted (numeric: +0.3 sd mean, 1.5x scale,
lognormal mu+0.3, t(3)+0.5, uniform widened by 20%; categorical: probabilities moved,
a new category at 8%) and one numeric column moves by a negligible 0.02 sd, which
a test users can trust must not flag. Times are medians over ``--repeat`` runs; peak
memory is tracemalloc's peak above the inputs (numpy reports its buffers to it), and for
Evidently the growth of the process's max RSS. Categorical columns are pandas
``category`` dtype on every side.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

NUMERIC, CATEGORICAL = 15, 5
SHIFTED = ["n0", "n1", "n2", "n3", "n4", "c0", "c1"]
NEGLIGIBLE = "n5"
CATS = list("abcdefgh")


def make_data(n_ref: int, n_cur: int, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return (reference, current) frames: 15 numeric, 5 categorical, 7 shifted columns."""
    rng = np.random.default_rng(seed)

    def frame(n: int, shifted: bool) -> pd.DataFrame:
        cols: dict[str, Any] = {}
        s = 1.0 if shifted else 0.0
        cols["n0"] = rng.normal(0.3 * s, 1.0, n)
        cols["n1"] = rng.normal(0.0, 1.0 + 0.5 * s, n)
        cols["n2"] = rng.lognormal(0.3 * s, 1.0, n)
        cols["n3"] = rng.standard_t(3, n) + 0.5 * s
        cols["n4"] = rng.uniform(0, 1 + 0.2 * s, n)
        cols["n5"] = rng.normal(0.02 * s, 1.0, n)
        for i in range(6, NUMERIC):
            cols[f"n{i}"] = rng.gamma(2.0 + i % 3, 1.0, n) if i % 2 else rng.normal(i, 2.0, n)
        p = np.array([0.3, 0.2, 0.15, 0.1, 0.1, 0.08, 0.07, 0.0])
        moved = np.array([0.15, 0.2, 0.15, 0.15, 0.1, 0.08, 0.17, 0.0])
        new = np.array([0.28, 0.18, 0.14, 0.09, 0.09, 0.07, 0.07, 0.08])
        for i in range(CATEGORICAL):
            probs = moved if (shifted and i == 0) else new if (shifted and i == 1) else p
            codes = rng.choice(len(CATS), n, p=probs / probs.sum())
            cols[f"c{i}"] = pd.Categorical.from_codes(codes, CATS)
        return pd.DataFrame(cols)

    return frame(n_ref, False), frame(n_cur, True)


# --- the three in-process sides ----------------------------------------------------------

def run_nbmlops(ref: Any, cur: pd.DataFrame) -> dict[str, Any]:
    """nbmlops.drift with a precomputed reference."""
    import nbmlops

    report = nbmlops.drift(ref, cur)
    t = report.table.set_index("column")
    return {"drifted": report.drifted_columns, "stat": t["statistic"].to_dict(),
            "p": t["p_value"].to_dict()}


def run_scipy(ref: pd.DataFrame, cur: pd.DataFrame) -> dict[str, Any]:
    """Plain scipy per column: ks_2samp, chi2_contingency on value counts; p < 0.05."""
    from scipy import stats

    stat, p = {}, {}
    for col in ref.columns:
        if ref[col].dtype.kind == "f":
            r = stats.ks_2samp(ref[col].to_numpy(), cur[col].to_numpy())
        else:
            a, b = ref[col].value_counts(), cur[col].value_counts()
            keys = sorted(set(a.index[a > 0]) | set(b.index[b > 0]))
            r = stats.chi2_contingency([[a.get(k, 0) for k in keys],
                                        [b.get(k, 0) for k in keys]])
        stat[col], p[col] = float(r.statistic), float(r.pvalue)
    return {"drifted": [c for c in ref.columns if p[c] < 0.05], "stat": stat, "p": p}


def numpy_reference(ref: pd.DataFrame) -> dict[str, Any]:
    """The hand-vectorised pass's precomputed reference: sorted values, category counts."""
    out: dict[str, Any] = {}
    for col in ref.columns:
        s = ref[col]
        if s.dtype.kind == "f":
            v = np.sort(s.to_numpy())
            out[col] = (v, np.searchsorted(v, v, side="right"))
        else:
            out[col] = np.bincount(s.cat.codes.to_numpy(), minlength=len(s.cat.categories))
    return out


def run_numpy(ref: dict[str, Any], cur: pd.DataFrame) -> dict[str, Any]:
    """Hand-vectorised: searchsorted KS (asymptotic p), bincount chi-square; p < 0.05."""
    from scipy import stats

    stat, p = {}, {}
    for col, r in ref.items():
        s = cur[col]
        if isinstance(r, tuple):
            v, cum = r
            c = np.sort(s.to_numpy())
            n1, n2 = v.size, c.size
            at = cum / n1 - np.searchsorted(c, v, side="right") / n2
            before = np.concatenate(([0], cum[:-1])) / n1 - np.searchsorted(c, v, "left") / n2
            d = max(at.max(), before.max(), -at.min(), -before.min())
            en = n1 * n2 / (n1 + n2)
            stat[col], p[col] = float(d), float(stats.kstwo.sf(d, np.round(en)))
        else:
            counts = np.bincount(s.cat.codes.to_numpy(), minlength=r.size)
            obs = np.vstack([r, counts]).astype(float)
            obs = obs[:, obs.sum(axis=0) > 0]
            exp = np.outer(obs.sum(1), obs.sum(0)) / obs.sum()
            chi = float(((obs - exp) ** 2 / exp).sum())
            stat[col], p[col] = chi, float(stats.chi2.sf(chi, obs.shape[1] - 1))
    return {"drifted": [c for c in ref if p[c] < 0.05], "stat": stat, "p": p}


def measure(fn: Callable[[], Any], repeat: int) -> tuple[float, float, Any]:
    """Return (median seconds, peak MiB above the start, last result)."""
    times = []
    result = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    fn()
    peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    return statistics.median(times), peak / 2**20, result


# --- Evidently, in its own interpreter ---------------------------------------------------

EVIDENTLY_SCRIPT = r"""
import json, resource, sys, time
import numpy as np, pandas as pd
data = np.load(sys.argv[1], allow_pickle=False)
def frame(prefix):
    cols = {}
    for key in data.files:
        if ":" not in key:
            continue
        side, col = key.split(":", 1)
        if side != prefix:
            continue
        arr = data[key]
        cats = list(data["cats"])
        cols[col] = pd.Categorical.from_codes(arr, cats) if col.startswith("c") else arr
    return pd.DataFrame(cols)
ref, cur = frame("ref"), frame("cur")
import evidently
from evidently import DataDefinition, Dataset, Report
from evidently.presets import DataDriftPreset
num = [c for c in ref.columns if c.startswith("n")]
cat = [c for c in ref.columns if c.startswith("c")]
definition = DataDefinition(numerical_columns=num, categorical_columns=cat)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t0 = time.perf_counter()
snapshot = Report([DataDriftPreset()]).run(Dataset.from_pandas(cur, data_definition=definition),
                                           Dataset.from_pandas(ref, data_definition=definition))
result = snapshot.dict()
elapsed = time.perf_counter() - t0
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
drifted = []
for m in result.get("metrics", []):
    name = str(m.get("metric_name", ""))
    cfg = m.get("config", {})
    col = cfg.get("column")
    value = m.get("value")
    thr = cfg.get("threshold")
    if col and "ValueDrift" in name and isinstance(value, (int, float)) and thr is not None:
        method = str(cfg.get("method", ""))
        is_p = "p_value" in method.lower() or "test" in method.lower()
        drifted.append(col) if ((value < thr) if is_p else (value >= thr)) else None
print(json.dumps({"seconds": elapsed, "rss_growth_mib": (after - before) / 1024,
                  "peak_rss_mib": after / 1024, "version": evidently.__version__,
                  "drifted": sorted(set(drifted))}))
"""


def run_evidently(python: str, ref: pd.DataFrame, cur: pd.DataFrame) -> dict[str, Any]:
    """Run DataDriftPreset in another interpreter on the same data; return its figures."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "data.npz"
        arrays: dict[str, Any] = {"cats": np.array(CATS)}
        for side, f in (("ref", ref), ("cur", cur)):
            for col in f.columns:
                s = f[col]
                arrays[f"{side}:{col}"] = s.cat.codes.to_numpy() if col.startswith("c") \
                    else s.to_numpy()
        np.savez(path, **arrays)
        script = Path(tmp) / "run_evidently.py"
        script.write_text(EVIDENTLY_SCRIPT)
        out = subprocess.run([python, str(script), str(path)], capture_output=True, text=True,
                             env={**os.environ, "PYTHONWARNINGS": "ignore"})
        if out.returncode != 0:
            return {"error": out.stderr.strip().splitlines()[-1] if out.stderr else "failed"}
        return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def main() -> None:
    """Run every side on the same data and print times, memory, verdicts and ratios."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000, help="current rows")
    ap.add_argument("--ref-rows", type=int, default=100_000, help="reference rows")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--evidently", default=os.environ.get("EVIDENTLY_PYTHON"),
                    metavar="PYTHON", help="python of a venv with evidently (pandas < 3)")
    args = ap.parse_args()

    import nbmlops

    ref, cur = make_data(args.ref_rows, args.rows)
    print(f"{args.rows:,} current x {cur.shape[1]} features vs {args.ref_rows:,} reference rows;"
          f" shifted: {', '.join(SHIFTED)}; negligible: {NEGLIGIBLE}")
    t0 = time.perf_counter()
    nb_ref = nbmlops.drift_reference(ref)
    t_ref = time.perf_counter() - t0
    t1 = time.perf_counter()
    np_ref = numpy_reference(ref)
    t_np_ref = time.perf_counter() - t1
    nbmlops.drift(nb_ref, cur.head(1000))  # warm imports (scipy.stats) on every side
    run_numpy(np_ref, cur.head(1000))
    run_scipy(ref.head(1000), cur.head(1000))

    rows = {}
    rows["nbmlops"] = measure(lambda: run_nbmlops(nb_ref, cur), args.repeat)
    rows["numpy pass"] = measure(lambda: run_numpy(np_ref, cur), args.repeat)
    rows["scipy"] = measure(lambda: run_scipy(ref, cur), max(1, args.repeat // 2))
    nb_res, sp_res = rows["nbmlops"][2], rows["scipy"][2]
    same_stat = all(abs(nb_res["stat"][c] - sp_res["stat"][c]) <= 1e-9 * max(1, sp_res["stat"][c])
                    for c in ref.columns)
    max_dp = max(abs(nb_res["p"][c] - sp_res["p"][c]) for c in ref.columns)

    print(f"\nreference build (once per training set): nbmlops {t_ref:.2f} s, "
          f"numpy pass {t_np_ref:.2f} s")
    print(f"\n{'side':<12}{'time s':>9}{'peak MiB':>10}  flagged")
    for name, (sec, mib, res) in rows.items():
        print(f"{name:<12}{sec:>9.3f}{mib:>10.1f}  {', '.join(res['drifted'])}")
    ev = None
    if args.evidently:
        ev = run_evidently(args.evidently, ref, cur)
        if "error" in ev:
            print(f"evidently   failed: {ev['error']}")
            ev = None
        else:
            print(f"{'evidently':<12}{ev['seconds']:>9.3f}{ev['rss_growth_mib']:>10.1f}  "
                  f"{', '.join(ev['drifted'])}  (v{ev['version']}; MiB = max-RSS growth, "
                  f"peak RSS {ev['peak_rss_mib']:.0f} MiB)")
    else:
        print("evidently   skipped (give --evidently PYTHON of a venv with evidently)")

    nb_t = rows["nbmlops"][0]
    print(f"\nstatistics equal to scipy's: {same_stat}; max |p - scipy p| = {max_dp:.2e}")
    print(f"nbmlops / numpy pass: {nb_t / rows['numpy pass'][0]:.2f}x the time (target <= 2)")
    print(f"scipy / nbmlops: {rows['scipy'][0] / nb_t:.1f}x faster (target >= 5)")
    if ev:
        print(f"evidently / nbmlops: {ev['seconds'] / nb_t:.0f}x faster")
    want = sorted(SHIFTED)
    print(f"nbmlops flags exactly the shifted columns: {sorted(nb_res['drifted']) == want}; "
          f"scipy at p<0.05 flags {NEGLIGIBLE}: {NEGLIGIBLE in sp_res['drifted']}")


if __name__ == "__main__":
    main()
