"""pytest-benchmark's JSON (`pytest bench --benchmark-json=FILE`) → the same `Results` as a CLI run folder.

Each benchmark of bench/ times rounds of `steps_per_round` training steps with one synchronisation at the end
of each round; pytest-benchmark keeps every round's time in `stats.data`. A round becomes one row (one "block"
in the CLI's terms) and its per-step time is derived where the CLI's is: simplenn.store.results (block / steps).

Raw round times are in the file only for `--benchmark-json` (always) or `--benchmark-save`/`--benchmark-autosave`
with `--benchmark-save-data`. A file with summary statistics only is refused: a median of rounds cannot be
turned back into the samples that every summary of the report is derived from.

Format history of the `extra_info` bench/ writes into every benchmark (EXTRA_INFO_FORMAT):
  1  simplenn-bench 0.1.0: simplenn_format, case (Case.to_dict()), cell_id, grid, device, device_kind, backend,
     batch_size, widths, hidden, steps_per_round (steps_per_round_from: the --benchmark-compare file it was
     pinned to), rounds, warmup_rounds, calibration_s, flops_per_step, flops_formula, trace_s, per_step,
     final_loss, n_traces, placement, peak_bytes. The file's top level may carry "simplenn": {format, grid,
     devices, logical_cpus, power_source, thermal}; machine_info may carry "simplenn" (the stable part of
     simplenn.system.machine.fingerprint()).
     `flops_per_step` and `flops_formula` are for people reading the file: the loader recomputes the count from
     `case`, so files written before issue 23 (6 × batch × weight entries) load with the fixed count.
Newer formats are refused with a clear message.
"""
from __future__ import annotations

import json
import math
import warnings
from pathlib import Path


from simplenn.core.cases import Case
from simplenn.core.errors import Notice, UsageError
from simplenn.system.machine import make_label
from simplenn.core.records import CellRecord
from simplenn.store.results import Results, frame, rows, validate
from simplenn.store.runfolder import ResultsError
from simplenn.store.runmeta import RunMeta

EXTRA_INFO_FORMAT = 1
SOURCE = "pytest-benchmark"
# Keys of extra_info without which a benchmark is not one of ours.
REQUIRED_EXTRA = ("simplenn_format", "case", "steps_per_round")
# Fingerprint keys that change between two runs of one machine: kept out of machine_info so that
# `--benchmark-compare` does not warn that the machine differs every time.
VOLATILE_MACHINE_KEYS = ("power_source", "battery_percent", "thermal", "git_commit", "git_dirty")


def load(path: Path | str) -> Results:
    """Results of a pytest-benchmark JSON file: the tidy table (results.COLUMNS, one row per timed round) and runs.

    `runs` = {run name: RunMeta(machine=…, grid=…, source="pytest-benchmark", …)}, the run name being the file's
    stem. Raises ResultsError (a UsageError) for a missing, malformed or foreign file.
    """
    path = Path(path)
    doc = _read(path)
    run = path.stem
    ours, foreign = [], []
    for i, bench in enumerate(doc["benchmarks"]):
        if not isinstance(bench, dict):
            raise ResultsError(f"{path}: benchmark #{i} is not an object; not a pytest-benchmark JSON file")
        extra = bench.get("extra_info")
        (ours if isinstance(extra, dict) and all(k in extra for k in REQUIRED_EXTRA) else foreign).append(bench)
    if not ours:
        names = ", ".join(str(b.get("name", "?")) for b in foreign[:3]) or "none"
        raise ResultsError(
            f"{path}: no simplenn-bench benchmarks in this pytest-benchmark file (benchmarks: {names}); "
            f"their extra_info lacks {', '.join(REQUIRED_EXTRA)}. Produce it with "
            f"`pytest bench --benchmark-only --benchmark-json={path.name}`"
        )
    if foreign:
        warnings.warn(f"{path}: ignored {len(foreign)} benchmark(s) not written by bench/ "
                      f"({', '.join(str(b.get('name', '?')) for b in foreign[:3])})", Notice, stacklevel=2)
    machine = machine_of(doc.get("machine_info"))
    records = [_record(path, i, bench) for i, bench in enumerate(ours)]
    table = validate(frame(rows(run, machine["label"], records)), str(path))
    ours_meta = doc.get("simplenn") if isinstance(doc.get("simplenn"), dict) else {}
    return Results(table, {run: RunMeta(
        machine=machine, grid=ours_meta.get("grid") or _grid_of(records), source=SOURCE,
        extra={"created": doc.get("datetime"), "pytest_benchmark_version": doc.get("version"),
               "commit_info": doc.get("commit_info") or {},
               **{k: ours_meta[k] for k in ("devices", "logical_cpus", "power_source", "thermal") if k in ours_meta}},
    )})


def _read(path: Path) -> dict:
    if not path.is_file():
        raise ResultsError(f"{path}: no such file")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ResultsError(f"{path}: not valid JSON ({e}); expected a pytest-benchmark --benchmark-json file") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("benchmarks"), list) or not isinstance(doc.get("machine_info"), dict):
        raise ResultsError(f"{path}: not a pytest-benchmark JSON file (no 'benchmarks' list and 'machine_info' object); "
                           f"a simplenn-bench run folder is read without --from-pytest-benchmark")
    if not doc["benchmarks"]:
        raise ResultsError(f"{path}: no benchmarks recorded; were they disabled? Run `pytest bench --benchmark-only "
                           f"--benchmark-json={path.name}` (plain `pytest` only smoke-tests the benchmark bodies)")
    return doc


def _record(path: Path, seq: int, bench: dict) -> dict:
    """One benchmark as a samples.jsonl cell record (its JSON), so results.rows turns it into rows like any CLI cell."""
    name = bench.get("name", f"#{seq}")
    extra = bench["extra_info"]
    version = extra["simplenn_format"]
    if not isinstance(version, int) or version > EXTRA_INFO_FORMAT:
        raise ResultsError(f"{path}: {name} has extra_info format {version!r}, newer than this simplenn-bench "
                           f"understands ({EXTRA_INFO_FORMAT}); upgrade simplenn-bench to read it")
    try:
        case = Case.from_dict(extra["case"])
    except (UsageError, KeyError, TypeError, AttributeError) as e:
        raise ResultsError(f"{path}: {name} has an unreadable extra_info.case ({e})") from None
    stats = bench.get("stats") if isinstance(bench.get("stats"), dict) else {}
    data = stats.get("data")
    if data is None:
        raise ResultsError(
            f"{path}: {name} has summary statistics only, no per-round times (stats.data). Use "
            f"--benchmark-json=FILE, which always stores them, or add --benchmark-save-data to "
            f"--benchmark-save/--benchmark-autosave"
        )
    steps = extra["steps_per_round"]
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ResultsError(f"{path}: {name} has steps_per_round {steps!r}; expected a positive integer")
    if not isinstance(data, list) or not data or not all(_positive(t) for t in data):
        raise ResultsError(f"{path}: {name} has stats.data that is not a non-empty list of positive round times")
    iterations = stats.get("iterations", 1)
    if iterations != 1:
        # pytest-benchmark stores round time / iterations; bench/ always times one target call per round.
        raise ResultsError(f"{path}: {name} was timed with {iterations} iterations per round; bench/ uses 1")
    return CellRecord(
        case, "ok", seq=seq, trace_s=extra.get("trace_s"), n_steps=steps, block_s=tuple(data),
        calibration_s=tuple(extra.get("calibration_s") or ()), placement=extra.get("placement") or {},
        final_loss=extra.get("final_loss"), n_traces=extra.get("n_traces"), peak_bytes=extra.get("peak_bytes"),
        backend=extra.get("backend", "none"), device_kind=extra.get("device_kind", case.device.split(":")[0].lower()),
    ).to_json()


def _positive(t: object) -> bool:
    return isinstance(t, (int, float)) and not isinstance(t, bool) and math.isfinite(t) and t > 0


def machine_of(info: object) -> dict:
    """A run.json-like machine dict from pytest-benchmark's machine_info (plus bench/'s fingerprint, if there)."""
    info = info if isinstance(info, dict) else {}
    cpu = info.get("cpu") if isinstance(info.get("cpu"), dict) else {}
    ours = info.get("simplenn") if isinstance(info.get("simplenn"), dict) else {}
    system, arch = info.get("system") or "", info.get("machine") or ""
    mapped = {
        "cpu_model": cpu.get("brand_raw") or info.get("processor") or None,
        "chip": None,
        "os": "macOS" if system == "Darwin" else system or None,
        "os_version": info.get("release"),
        "arch": arch or None,
        "python": info.get("python_version"),
        "python_implementation": info.get("python_implementation"),
        "cores_logical": cpu.get("count"),
    }
    machine = {**mapped, **{k: v for k, v in ours.items() if v is not None}}
    machine["label"] = ours.get("label") or make_label(machine["cpu_model"], machine["chip"], system, arch)
    return machine


def _grid_of(records: list[dict]) -> dict:
    """The grid as measured, when the file does not say which grid was asked for."""
    cases = [Case.from_dict(r["case"]) for r in records]
    return {"devices": sorted({c.device for c in cases}), "batch_sizes": sorted({c.batch_size for c in cases}),
            "widths": sorted({c.widths_label for c in cases})}
