"""One schema for samples.jsonl: a record that does not fit is a one-line error naming file, line and key."""
from __future__ import annotations

import json

import pytest

from simplenn.store import results
from simplenn.core.cases import Case
from simplenn.core.records import check_record

CASE = Case("CPU:0", 8)
GOOD = {"kind": "cell", "seq": 0, "id": CASE.id, "case": CASE.to_dict(), "status": "ok", "reason": "",
        "block_s": [0.1, 0.11], "n_steps": 10, "round": 0, "sentinel": False, "trace_s": 0.5, "final_loss": 0.3,
        "peak_bytes": None}
CEILING = {"kind": "ceiling", "device": "CPU:0", "gflops": 50.0, "n_steps": 3, "block_s": [0.2]}


def _run(tmp_path, *records):
    writer = results.RunWriter(tmp_path / "run")
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
    with pytest.raises(results.ResultsError) as e:
        results.load(run)
    assert str(e.value) == f"{run / 'samples.jsonl'}: line 3: key 'case' is missing"


def test_wrong_type_in_a_run_is_refused_before_any_number_is_computed(tmp_path):
    run = _run(tmp_path, {**GOOD, "block_s": ["0.1", "0.2"]})  # today: a TypeError traceback in the division
    with pytest.raises(results.ResultsError, match=r"samples.jsonl: line 1: key 'block_s'"):
        results.read_records(run)
    path = run / "samples.jsonl"
    path.write_text(json.dumps(GOOD) + "\n")
    assert results.read_records(run)[0] == [GOOD]
