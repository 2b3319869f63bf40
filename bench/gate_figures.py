"""The gate on real noise: same-code pairs of runs, and the same pairs with a slowdown planted into the new run.

For each pair (base, new) of runs of unchanged code: `compare` is run as is (cells flagged: the false alarms), and
then against copies of new whose every ok block time is multiplied by 1.05, 1.10, 1.20 and 1.40 (the power on this
machine's own noise). Also printed per pair: σ̂ (the reproducibility figure) and the median between-round SD of the
log round medians, the σ_b of docs/statistics.md's noise model.

    PYTHONPATH=. python bench/gate_figures.py BASE1 NEW1 [BASE2 NEW2 ...]
"""
from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import numpy as np

from simplenn.analyse.compare import compare
from simplenn.core.files import write_text
from simplenn.store.results import load
from simplenn.store.runfolder import RUN_FILE, SAMPLES_FILE

SLOWDOWNS = (1.05, 1.10, 1.20, 1.40, 2.0)


def plant_slowdown(run_dir: Path, factor: float, out_dir: Path) -> Path:
    """A copy of a run folder whose ok cells' block times are all `factor`× longer (a planted regression)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    write_text(out_dir / RUN_FILE, (run_dir / RUN_FILE).read_text(encoding="utf-8"))
    lines = []
    for line in (run_dir / SAMPLES_FILE).read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        if record.get("kind") == "cell" and record.get("status") == "ok":
            record["block_s"] = [factor * b for b in record["block_s"]]
        lines.append(json.dumps(record))
    write_text(out_dir / SAMPLES_FILE, "\n".join(lines) + "\n")
    return out_dir


def between_round_sd(run_dir: Path) -> float:
    """Median over cells of the SD of the log round medians (σ_b of the noise model)."""
    table = load(run_dir).table
    ok = table[(table["status"] == "ok") & ~table["sentinel"].fillna(False).astype(bool)].dropna(subset=["step_s"])
    medians = ok.groupby(["cell_id", "round"])["step_s"].median()
    sds = np.log(medians).groupby(level="cell_id").std(ddof=1).dropna()
    return float(sds.median()) if len(sds) else float("nan")


def main(paths: list[str]) -> None:
    pairs = list(zip(paths[::2], paths[1::2]))
    print("| pair | rounds | σ_b (median cell) | σ̂ | cells flagged, same code | "
          + " | ".join(f"×{k:.2f}: flagged cells (exit)" for k in SLOWDOWNS) + " |")
    print("|---|---:|---:|---:|---:|" + "---:|" * len(SLOWDOWNS))
    with tempfile.TemporaryDirectory() as tmp:
        for i, (a, b) in enumerate(pairs, 1):
            base, new = Path(a), Path(b)
            same = compare(load(base), load(new))
            planted = []
            for k in SLOWDOWNS:
                slow = compare(load(base), load(plant_slowdown(new, k, Path(tmp) / f"{i}-{k}")))
                planted.append(f"{len(slow.regressions)} of {len(slow.table)} ({int(slow.has_regression)})")
            sd = np.mean([between_round_sd(base), between_round_sd(new)])
            print(f"| {base.name} / {new.name} | {same.rounds} | {100 * sd:.1f} % | "
                  f"{same.reproducibility['sigma_pct']:.1f} % | {len(same.regressions)} of {len(same.table)} | "
                  + " | ".join(planted) + " |")


if __name__ == "__main__":
    main(sys.argv[1:])
