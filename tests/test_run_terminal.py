"""What `run` shows in the terminal: progress with an ETA at this process's pace, and at the end the same answer
sentences report.md opens with, before the run folder's path (issue 28)."""
from __future__ import annotations

import json

from tiny import FakeWorker, interrupted_fake_run

from simplenn import sweep
from simplenn.analyse.report.analysis import analyse
from simplenn.analyse.report.answer import answers
from simplenn.cli import main
from simplenn.cli._summary import clock
from simplenn.store.results import load


def test_the_eta_is_the_pace_of_the_cells_this_process_measured():
    assert sweep.Progress(5, 10, {}, 10.0, done_before=3).eta_s == 25.0  # 2 cells in 10 s, 5 left
    assert sweep.Progress(3, 10, {}, 4.0, done_before=3).eta_s is None  # nothing measured yet: no pace
    assert (clock(25.0), clock(3725.4), clock(None)) == ("0:25", "1:02:05", "–")


def test_a_resumed_run_reports_the_cells_it_found_done(tmp_path):
    state = interrupted_fake_run(tmp_path, after=3)
    seen = []
    sweep.execute(sweep.resume_state(state.run_dir), FakeWorker(), seen.append)
    assert (seen[0].done, seen[0].done_before) == (4, 3)  # before the fix: 0, and the ETA counted the 3 old cells
    assert [p.done for p in seen] == list(range(4, seen[0].total + 1)) and seen[-1].eta_s == 0


def _words(text: str) -> str:
    return " ".join(text.split())


def test_run_prints_progress_with_eta_and_ends_with_the_answer_before_the_path(tmp_path, fake_worker, capsys):
    state = interrupted_fake_run(tmp_path)
    assert main(["run", "--resume", str(state.run_dir)]) == 0
    out, err = capsys.readouterr()
    total = len(state.meta["plan"])
    progress = [line for line in err.splitlines() if line.startswith("[")]
    assert progress[0].startswith(f"[4/{total}] ") and all("; ETA " in line for line in progress), err
    (expected,) = answers(analyse(load(state.run_dir)))
    head, tail = out.split(f"The answer, on {expected.machine}:\n", 1)
    assert _words(tail).startswith(_words(" ".join(expected.sentences)))
    assert tail.rstrip().splitlines()[-1] == f"results: {state.run_dir}"  # the path last, after the answer


def test_run_json_carries_the_answer(tmp_path, fake_worker, capsys):
    from simplenn.cli.run import _finish

    state = sweep.execute(sweep.resume_state(interrupted_fake_run(tmp_path).run_dir), FakeWorker())
    capsys.readouterr()
    assert _finish(state, as_json=True) == 0
    printed = json.loads(capsys.readouterr().out)
    (expected,) = answers(analyse(load(state.run_dir)))
    assert printed["answer"] == [{"machine": expected.machine, "sentences": list(expected.sentences)}]
