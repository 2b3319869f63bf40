"""Bad input through the CLI ends with exit status 2 and one error line naming the option, never a traceback;
`train --json` and `info --json` print what scripts rely on."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from simplenn import cli
from simplenn.nn.model import tf

ROOT = Path(__file__).resolve().parents[1]


def run_cli(argv, capsys):
    """(exit status, stdout, stderr) of simplenn.cli.main(argv); argparse's own errors exit via SystemExit."""
    try:
        code = cli.main(argv)
    except SystemExit as e:
        code = e.code
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_error_line(err: str, option: str, command: str = "train") -> None:
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if line.startswith(f"simplenn-bench {command}: error:")]
    assert len(errors) == 1, err
    assert option in errors[0], errors[0]
    assert err.rstrip().splitlines()[-1] == errors[0]  # argparse puts its usage lines first; nothing follows


def _session_cpus() -> str:
    # In-process runs must ask for the logical CPUs this session already has (they cannot change any more).
    return str(len(tf.config.list_logical_devices("CPU")))


@pytest.fixture()
def bad_npz(tmp_path):
    path = tmp_path / "mnist.npz"
    path.write_text("not a zip\n")
    return path


ARGPARSE_ERRORS = [
    (["--layers", "784"], "--layers"),
    (["--layers", "784,0,10"], "--layers"),
    (["--layers", "784,-5,10"], "--layers"),
    (["--layers", "784,abc,10"], "--layers"),
    (["--batch-size", "0"], "--batch-size"),
    (["--batch-size", "-32"], "--batch-size"),
    (["--epochs", "0"], "--epochs"),
    (["--epochs", "-1"], "--epochs"),
    (["--learning-rate", "0"], "--learning-rate"),
    (["--learning-rate", "-0.01"], "--learning-rate"),
    (["--learning-rate", "nan"], "--learning-rate"),
    (["--loss", "hinge"], "--loss"),
    (["--dataset", "cifar10"], "--dataset"),
]


@pytest.mark.parametrize("args, option", ARGPARSE_ERRORS, ids=[" ".join(a) for a, _ in ARGPARSE_ERRORS])
def test_bad_train_flags(args, option, capsys):
    code, out, err = run_cli(["train", *args], capsys)
    assert code == 2
    assert_one_error_line(err, option)
    assert out == ""


@pytest.mark.parametrize(
    "args, option, words",
    [
        (["--dataset", "mnist", "--data", "{missing}"], "--data", "does not exist"),
        (["--dataset", "mnist", "--data", "{bad}"], "--data", "not a readable .npz"),
        (["--dataset", "digits", "--device", "tpu"], "--device", "TensorFlow sees: CPU:0, CPU:1"),
        (["--dataset", "digits", "--layers", "784,10"], "--layers", "input size 64"),
        (["--dataset", "digits", "--data", "{bad}"], "--data", "only used with the mnist dataset"),
    ],
)
def test_bad_train_input_after_parsing(args, option, words, tmp_path, bad_npz, capsys):
    args = [a.format(missing=tmp_path / "absent.npz", bad=bad_npz) for a in args]
    code, out, err = run_cli(["train", "--logical-cpus", _session_cpus(), *args], capsys)
    assert code == 2
    assert_one_error_line(err, option)
    assert err.count("\n") == 1 and words in err  # a UsageError is exactly one line
    assert "error" not in out  # errors go to stderr (a layer mismatch comes after the "training …" banner)


def test_absent_gpu_is_a_usage_error(no_gpu, capsys):
    # Only where TensorFlow sees no GPU: on a Mac whose Metal GPU works, `--device gpu` is a valid choice.
    code, out, err = run_cli(["train", "--logical-cpus", _session_cpus(), "--dataset", "digits", "--device", "gpu"],
                             capsys)
    assert code == 2
    assert_one_error_line(err, "--device")
    assert err.count("\n") == 1 and "is not present" in err and "error" not in out


@pytest.mark.slow
def test_train_digits_json(capsys):
    """The JSON of a run that learns: accuracy far above chance (0.1), the last epoch's, and a falling loss.

    Softmax at lr 0.1, batch 16 reaches ≈ 0.85 after 2 epochs here (0.52 after 1); chance is 0.1.
    """
    code, out, err = run_cli(
        ["train", "--dataset", "digits", "--epochs", "2", "--loss", "softmax", "--learning-rate", "0.1",
         "--batch-size", "16", "--json", "--logical-cpus", _session_cpus()], capsys
    )
    assert code == 0, err
    result = json.loads(out)
    assert result["dataset"] == "digits" and [e["epoch"] for e in result["epochs"]] == [1, 2]
    assert result["config"]["layers"] == [64, 100, 30, 10]
    assert result["config"]["loss"] == "softmax" and result["config"]["learning_rate"] == 0.1
    assert result["test_accuracy"] == result["epochs"][-1]["test_accuracy"]
    assert result["test_accuracy"] >= 0.6, result["epochs"]
    assert result["epochs"][1]["loss"] < result["epochs"][0]["loss"]


# ------------------------------------------------------------------ real processes


def _command() -> list[str]:
    script = shutil.which("simplenn-bench", path=str(Path(sys.executable).parent))
    return [script] if script else [sys.executable, "-m", "simplenn.cli"]


@pytest.fixture(scope="module")
def processes(tmp_path_factory):
    """Start every subprocess at once (each pays TensorFlow's ~5 s import) and collect them."""
    tmp = tmp_path_factory.mktemp("cli")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    calls = {
        "bad_epochs": ["train", "--epochs", "0"],
        "missing_data": ["train", "--dataset", "mnist", "--data", str(tmp / "absent.npz")],
        "info": ["info", "--json", "--no-ceiling"],
        "info_2cpus": ["info", "--json", "--no-ceiling", "--logical-cpus", "2"],
    }
    started = {
        name: subprocess.Popen(_command() + argv, cwd=tmp, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
        for name, argv in calls.items()
    }
    done = {}
    for name, proc in started.items():
        out, err = proc.communicate(timeout=180)
        done[name] = (proc.returncode, out, err)
    return done


def test_subprocess_argparse_error(processes):
    code, out, err = processes["bad_epochs"]
    assert code == 2
    assert_one_error_line(err, "--epochs")


def test_subprocess_usage_error(processes):
    code, out, err = processes["missing_data"]
    assert code == 2, err
    assert_one_error_line(err, "--data")
    assert "does not exist" in err


def test_subprocess_info_lists_one_cpu_by_default(processes):
    code, out, err = processes["info"]
    assert code == 0, err
    names = [d["name"] for d in json.loads(out)["devices"]]
    assert "CPU:0" in names and "CPU:1" not in names


def test_subprocess_info_with_two_logical_cpus(processes):
    code, out, err = processes["info_2cpus"]
    assert code == 0, err
    info = json.loads(out)
    cpus = [d["name"] for d in info["devices"] if d["kind"] == "cpu"]
    assert cpus == ["CPU:0", "CPU:1"]
    assert "ceilings" not in info  # --no-ceiling
