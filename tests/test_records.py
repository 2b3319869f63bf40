"""One schema for samples.jsonl: a record that does not fit is a one-line error naming file, line and key."""
from __future__ import annotations

import json

import pytest

from simplenn.store import results
from simplenn.store import runfolder
from simplenn.core import records
from simplenn.core.cases import Case
from simplenn.core.records import CellRecord, PlanItem, check_record

CASE = Case("CPU:0", 8)
GOOD = {"kind": "cell", "seq": 0, "id": CASE.id, "case": CASE.to_dict(), "status": "ok", "reason": "",
        "block_s": [0.1, 0.11], "n_steps": 10, "round": 0, "sentinel": False, "trace_s": 0.5, "final_loss": 0.3,
        "peak_bytes": None}
CEILING = {"kind": "ceiling", "device": "CPU:0", "gflops": 50.0, "n_steps": 3, "block_s": [0.2]}


def _run(tmp_path, *records):
    writer = runfolder.RunWriter(tmp_path / "run")
    writer.create({"status": "complete"})
    for r in records:
        writer.append(r)
    return tmp_path / "run"


def test_valid_records_pass():
    assert check_record(GOOD) is None and check_record(CEILING) is None
    assert check_record({**GOOD, "status": "oom", "block_s": [], "n_steps": None}) is None


@pytest.mark.parametrize("change, words", [
    ({"seq": None}, "key 'seq' must be an integer"),
    ({"status": "fine"}, "key 'status' must be one of"),
    ({"block_s": "0.1"}, "key 'block_s' must be a list"),
    ({"block_s": [0.1, -1.0]}, "key 'block_s' must hold positive finite seconds"),
    ({"n_steps": 0}, "key 'n_steps' must be a positive integer"),
    ({"sentinel": "no"}, "key 'sentinel' must be true or false"),
    ({"seq": True}, "key 'seq' must be an integer"),
    ({"kind": "sample"}, "key 'kind' must be one of cell, ceiling"),
    ({"case": {"device": "CPU:0", "widths": [784, 10]}}, "key 'case.batch_size' is missing"),
])
def test_wrong_values_are_named(change, words):
    assert words in check_record({**GOOD, **change})


def test_missing_key_is_named():
    rec = dict(GOOD)
    del rec["id"]
    assert check_record(rec) == "key 'id' is missing"
    assert check_record({"kind": "ceiling", "device": "CPU:0"}) == "key 'gflops' is missing"


def test_incomplete_record_in_a_run_is_one_line_error_naming_file_line_and_key(tmp_path):
    incomplete = {k: v for k, v in GOOD.items() if k != "case"}  # valid JSON; today a KeyError traceback
    run = _run(tmp_path, CEILING, GOOD, incomplete)
    with pytest.raises(runfolder.ResultsError) as e:
        results.load(run)
    assert str(e.value) == f"{run / 'samples.jsonl'}: line 3: key 'case' is missing"


def test_wrong_type_in_a_run_is_refused_before_any_number_is_computed(tmp_path):
    run = _run(tmp_path, {**GOOD, "block_s": ["0.1", "0.2"]})  # today: a TypeError traceback in the division
    with pytest.raises(runfolder.ResultsError, match=r"samples.jsonl: line 1: key 'block_s'"):
        runfolder.read_records(run)
    path = run / "samples.jsonl"
    path.write_text(json.dumps(GOOD) + "\n")
    assert runfolder.read_records(run)[0] == [GOOD]


def test_a_version_1_record_loads_with_its_precision_named_precision_reached(tmp_path):
    run = _run(tmp_path, {**GOOD, "precision": 0.03, "imprecise": True})
    meta = json.loads((run / "run.json").read_text())
    (run / "run.json").write_text(json.dumps({**meta, "schema_version": 1}))
    [record], _ = runfolder.read_records(run)
    assert record["precision_reached"] == 0.03 and "precision" not in record
    assert results.load(run).table["precision_reached"].tolist() == [0.03, 0.03]


def test_a_record_round_trips_through_its_json_and_the_schema_follows_the_dataclass():
    item = PlanItem(3, Case("GPU:0", 32, (784, 64, 10), impl="jax", mode="in-graph"), round=1, sentinel=True)
    record = CellRecord(item.case, "ok", n_steps=5, block_s=(0.1, 0.2), precision_reached=0.01).planned(item)
    assert check_record(record.to_json()) is None
    assert CellRecord.from_json(json.loads(json.dumps(record.to_json()))) == record
    assert record.item == item and record.device_kind == "gpu"
    assert set(records.CELL) | {"kind"} == set(record.to_json())  # every field is a checked key, and only those
    with pytest.raises(records.RecordError, match="cannot answer plan item"):
        record.planned(PlanItem(4, Case("CPU:0", 32)))


def test_run_metadata_checks_itself_and_survives_a_round_trip(tmp_path):
    from simplenn.store.runmeta import Drift, MetaError, RunMeta, can_combine

    meta = {"status": "complete", "grid": {"batch_sizes": [8]}, "machine": {"label": "m"}, "warnings": ["w"],
            "drift": {"cell": "cpu-b8-w100x30", "first_median_s": 1e-3, "last_median_s": 2e-3, "ratio": 2.0, "n": 3,
                      "warning": True}, "run_id": "abc", "plan": [{"seq": 0}], "created": "2026-12-05"}
    read = RunMeta.from_json(meta)
    assert read.to_json() == meta and read.drift == Drift("cpu-b8-w100x30", 1e-3, 2e-3, 2.0, 3, True)
    assert read.get("plan") == [{"seq": 0}] and read.label == "m"
    for bad, key in (({"status": "done"}, "status"), ({"warnings": "w"}, "warnings"), ({"machine": []}, "machine"),
                     ({"drift": {"cell": "x", "ratio": -1.0}}, "drift")):
        with pytest.raises(MetaError, match=key):
            RunMeta.from_json({**meta, **bad})
    with pytest.raises(MetaError, match="status"):
        runfolder.RunWriter(tmp_path / "run").create({"status": "done"})  # nothing unreadable is written
    assert can_combine({"a": read, "b": RunMeta(run_id="other")}) is None
    assert "hold the same run (run id abc)" in can_combine({"a": read, "b": read})
    assert "different grids" in can_combine({"a": read, "b": RunMeta(preset={"name": "standard", "version": 1})},
                                            rank=True)
