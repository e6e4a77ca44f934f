"""bench_tables.py — the Mops/s tables of scripts/bench.sh, from Google
Benchmark JSON: one reader and one row printer for every such table."""
import json


def rates(path):
    """(benchmark name, threads) -> Mops/s: the median when the run has
    repetitions, else the single run; failed benchmarks are left out."""
    runs = json.load(open(path))["benchmarks"]
    medians = any(b.get("aggregate_name") == "median" for b in runs)  # REPS=1: single runs
    out = {}
    for b in runs:
        if "error_occurred" in b or (medians and b.get("aggregate_name") != "median"):
            continue
        out[(b["run_name"].split("/")[0], b["threads"])] = b["items_per_second"] / 1e6
    return out


def fmt(v):
    return f"{v:.2f}" if v else "–"


def rate_rows(rate, rows, base_key, label_format="{}", skip_missing=False):
    """One "| label | 1 thread | 2 threads | ratio |" line per (key, label) in
    rows; ratio: the row's 2-thread figure over base_key's."""
    base = rate.get((base_key, 2))
    for key, label in rows:
        r1, r2 = rate.get((key, 1)), rate.get((key, 2))
        if skip_missing and r1 is None and r2 is None:
            continue
        ratio = f"{r2 / base:.2f}×" if r2 and base else "–"
        print(f"| {label_format.format(label)} | {fmt(r1)} | {fmt(r2)} | {ratio} |")
