"""The trace parser and op classifier on committed traces (tests/fixtures/profile/) and on synthetic events with a
known answer. No TensorFlow: the parser must read a trace without importing it."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from simplenn.store import opclasses, xplane
from simplenn.store.opclasses import CLASSES, MATMUL_CLASSES, OP_CLASSES
from traces import PROFILE_FIXTURES, IN_GRAPH, N_LAYERS, PER_CALL, ROLES



@pytest.fixture(scope="module", params=[PER_CALL, IN_GRAPH], ids=["per-call", "in-graph"])
def traced(request):
    return opclasses.profile_trace(request.param, n_layers=N_LAYERS)


def test_fixtures_are_small():
    assert sum(p.stat().st_size for p in PROFILE_FIXTURES.glob("*.xplane.pb")) < 200_000


def test_events_table_reads_the_trace():
    ev = xplane.events(PER_CALL)
    assert list(ev.columns) == xplane.EVENT_COLUMNS
    assert (ev["dur_s"] > 0).all() and (ev["end_s"] >= ev["start_s"]).all()
    assert ev["start_s"].min() == 0
    assert "/host:CPU" in set(ev["plane"])
    assert ev["name"].str.contains("_MklNativeFusedMatMul").any()


def test_the_marker_gives_the_window_and_the_step_count(traced):
    classified, attribution = traced
    window = opclasses.traced_window(classified)
    assert window is not None and window[1] > window[0]
    assert attribution.n_steps == 10  # from the marker's n_steps stat
    assert attribution.traced_step_s == pytest.approx((window[1] - window[0]) / 10)


def test_classes_add_up_to_the_traced_step(traced):
    _, attribution = traced
    table = attribution.table
    assert list(table["cls"]) == list(CLASSES)
    assert table["s_per_step"].sum() == pytest.approx(attribution.traced_step_s, rel=1e-9)
    assert table["share"].sum() == pytest.approx(1.0, rel=1e-9)
    assert (table["s_per_step"] >= 0).all()


def test_every_kernel_of_our_step_has_a_class(traced):
    classified, attribution = traced
    kernels = classified[classified["layer"] == "kernel"]
    assert not kernels.empty
    assert set(kernels["cls"]) <= set(OP_CLASSES)
    assert (kernels["cls"] == "other_op").sum() == 0, sorted(kernels.loc[kernels["cls"] == "other_op", "name"])
    seconds = attribution.seconds()
    # Traced on a fresh executor: every kernel is visible, so each class of our step takes time (the forward
    # element-wise work is fused into the matmuls by oneDNN, and nothing falls outside the rules).
    for cls in set(OP_CLASSES) - {"elementwise_fwd", "other_op"}:
        assert seconds[cls] > 0, cls


def test_matmul_roles_follow_the_graph(traced):
    classified, _ = traced
    kernels = classified[classified["layer"] == "kernel"]
    matmuls = kernels[kernels["cls"].isin(MATMUL_CLASSES)]
    found = dict(zip(matmuls["node"].map(opclasses.scope_path), matmuls["cls"]))
    assert found == ROLES


def test_matmul_busy_time_bounds():
    _, attribution = opclasses.profile_trace(PER_CALL, n_layers=N_LAYERS)
    matmul = sum(attribution.seconds()[c] for c in MATMUL_CLASSES)
    assert matmul <= attribution.matmul_busy_s + 1e-12  # a shared slice is split, the busy time counts it whole
    assert attribution.matmul_busy_s <= attribution.traced_step_s


def test_every_matmul_flop_of_a_fresh_trace_is_accounted_for(traced):
    from simplenn.core.cases import flops_per_step

    classified, a = traced
    window = opclasses.traced_window(classified)
    flops = opclasses.traced_matmul_flops(classified, a.n_steps, 32, (784, 100, 30, 10), window)
    assert flops == pytest.approx(flops_per_step(32, (784, 100, 30, 10)))  # all 8 matmuls traced, every step
    # A matmul the trace does not show (TensorFlow leaves kernels under ~3 µs untraced) brings no FLOPs.
    hidden = classified[classified["node"].map(opclasses.scope_path) != "gradient_tape/MatMul_2/MatMul"]
    assert opclasses.traced_matmul_flops(hidden, a.n_steps, 32, (784, 100, 30, 10), window) == pytest.approx(
        flops - 2 * 32 * 10 * 30)


@pytest.mark.parametrize("path, layer", [("Relu", 1), ("Relu_1", 2), ("add_2", 3), ("MatMul_1", 2),
                                         ("gradient_tape/MatMul/MatMul", 1), ("gradient_tape/MatMul_2/MatMul_1", 3),
                                         ("logistic_loss/mul", None)])
def test_matmul_layers_from_names(path, layer):
    assert opclasses.matmul_layer(path) == layer


def test_in_graph_loop_scopes_read_like_per_call():
    assert opclasses.scope_path("while/body/_1/gradient_tape/while/MatMul/MatMul") == "gradient_tape/MatMul/MatMul"
    assert opclasses.scope_path("while/body/_1/while/Relu") == "Relu"
    assert opclasses.op_class("while/cond/_0/while/Less", "Less", 3) == "executor"
    assert opclasses.op_class("while/body/_1/while/add_3", "AddV2", 3) == "executor"  # the loop counter
    assert opclasses.op_class("while/body/_1/while/sub_2", "Sub", 3) == "update"
    assert opclasses.op_class("add_1", "AddV2", 3) == "elementwise_fwd"  # an unfused bias add


@pytest.mark.parametrize("name, expected", [
    ("Relu:_MklNativeFusedMatMul", ("Relu", "_MklNativeFusedMatMul")),
    ("gradient_tape/MatMul/MatMul:_MklMatMul", ("gradient_tape/MatMul/MatMul", "_MklMatMul")),
    ("ExecutorState::Process", None), ("EagerLocalExecute: __inference_train_step_140", None), ("train_step", None),
])
def test_op_names_are_told_from_runtime_events(name, expected):
    assert opclasses.split_op(name) == expected


def _events(rows):
    """A synthetic events table: (plane, line, name, start µs, end µs)."""
    df = pd.DataFrame(rows, columns=["plane", "line", "name", "start", "end"])
    return pd.DataFrame({"plane": df["plane"], "line": df["line"], "name": df["name"], "tf_op": "",
                         "start_s": df["start"] / 1e6, "end_s": df["end"] / 1e6, "dur_s": (df["end"] - df["start"]) / 1e6})


def test_attribution_on_a_known_timeline():
    # 0-10 µs host only; 10-20 a matmul; 15-20 a ReluGrad beside it (split evenly); 20-30 executor only;
    # 30-35 nothing; 35-40 host. Window 0-40 µs, two steps.
    host = "/host:CPU"
    ev = _events([
        (host, "python", "train_step", 0, 10), (host, "python", "KernelAndDeviceFunc::Run", 10, 30),
        (host, "t1", "MatMul:MatMul", 10, 20), (host, "t2", "gradient_tape/ReluGrad:ReluGrad", 15, 20),
        (host, "t1", "ExecutorState::Process", 20, 30), (host, "python", "train_step", 35, 40),
    ])
    a = opclasses.attribute(opclasses.classify(ev, 1), n_steps=2)
    s = {k: v * 1e6 for k, v in a.seconds().items()}
    assert s["matmul_fwd"] == pytest.approx((5 + 2.5) / 2)
    assert s["elementwise_bwd"] == pytest.approx(2.5 / 2)
    assert s["executor"] == pytest.approx(10 / 2)
    assert s["host"] == pytest.approx((10 + 5) / 2)
    assert s["idle"] == pytest.approx(5 / 2)
    assert sum(s.values()) == pytest.approx(20)
    assert a.matmul_busy_s * 1e6 == pytest.approx(5)  # 10 µs of matmul over two steps


def test_a_device_plane_takes_the_kernels_and_host_ops_become_dispatch():
    # A GPU trace: the device's kernels carry their TF op in `tf_op`; the host's op events are launches.
    ev = _events([
        ("/host:CPU", "t1", "MatMul:MatMul", 0, 2), ("/device:GPU:0", "stream 7", "sgemm_128x64", 1, 9),
    ])
    ev.loc[1, "tf_op"] = "MatMul:MatMul"
    a = opclasses.attribute(opclasses.classify(ev, 1), n_steps=1)
    s = {k: v * 1e6 for k, v in a.seconds().items()}
    assert s["matmul_fwd"] == pytest.approx(8)
    assert s["executor"] == pytest.approx(1)  # 0-1 µs: the launch on the host, no kernel on the device yet


def test_without_the_marker_the_whole_trace_is_the_window():
    classified = opclasses.classify(xplane.events(PER_CALL), N_LAYERS)
    whole = opclasses.attribute(classified, n_steps=10)  # first event to last, the marker itself left out
    marked = opclasses.profile_trace(PER_CALL, N_LAYERS)[1]
    assert whole.traced_step_s == pytest.approx(marked.traced_step_s, rel=0.05)
    assert whole.traced_step_s <= marked.traced_step_s  # the marker encloses the block's every event


def test_a_file_that_is_not_a_trace_is_refused_in_one_line(tmp_path):
    bad = tmp_path / "x.xplane.pb"
    bad.write_bytes(b"\x00\x01not a protobuf at all")
    with pytest.raises(xplane.TraceError) as e:
        xplane.events(bad)
    assert "\n" not in str(e.value)
    with pytest.raises(xplane.TraceError):
        xplane.events(tmp_path / "missing.xplane.pb")


def test_the_parser_does_not_import_tensorflow():
    code = ("import sys; from simplenn.store import opclasses; "
            f"opclasses.profile_trace({str(PER_CALL)!r}, 3); "
            "assert 'tensorflow' not in sys.modules, 'tensorflow was imported'")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_overlapping_kernels_never_count_twice():
    rng = np.random.default_rng(0)
    starts = rng.uniform(0, 100, 40)
    rows = [("/host:CPU", f"t{i % 3}", "MatMul:MatMul" if i % 2 else "Relu:Relu", s, s + rng.uniform(1, 20))
            for i, s in enumerate(starts)]
    a = opclasses.attribute(opclasses.classify(_events(rows), 1), n_steps=1)
    span = max(r[4] for r in rows) - min(r[3] for r in rows)
    assert sum(a.seconds().values()) * 1e6 == pytest.approx(span)
