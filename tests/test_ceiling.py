"""The matmul ceiling: GFLOP/s from the median block, the fastest probe counts, the step's own shapes are probed."""
from __future__ import annotations

import pytest

from simplenn.core.cases import Case
from simplenn.measure.ceiling import SQUARE, Ceiling, Probe, ceiling_shapes, probe_ceiling, step_shapes
from simplenn.measure.cell import Settings
from simplenn.sweep import SweepConfig, expand


@pytest.mark.parametrize("block_s, median_s", [((3.0, 1.0, 2.0), 2.0), ((4.0, 1.0, 3.0, 2.0), 2.5)])
def test_probe_gflops_uses_the_median_block(block_s, median_s):
    probe = Probe((100, 50, 20), n_steps=10, block_s=block_s)
    assert probe.gflops == pytest.approx(4 * 100 * 50 * 20 * 10 / median_s / 1e9)


def test_the_fastest_probe_is_the_ceiling_and_every_probe_is_recorded():
    slow, fast = Probe(SQUARE, 2, (1.0,) * 6), Probe((8192, 784, 100), 40, (0.5,) * 6)
    ceiling = Ceiling("CPU:0", "float32", (slow, fast))
    assert ceiling.gflops == fast.gflops > slow.gflops
    d = ceiling.to_dict()
    assert d["shape"] == [8192, 784, 100] and d["gflops"] == fast.gflops
    assert [p["shape"] for p in d["probes"]] == [list(SQUARE), [8192, 784, 100]]


def test_the_default_grid_probes_the_steps_largest_matmuls():
    shapes = step_shapes(expand(SweepConfig(), ["CPU:0"]))
    # (batch × 784) @ (784 × 100) at the largest batch, and each wide network's largest layer at batch 512.
    assert shapes == [(8192, 784, 100), (512, 1024, 1024), (512, 784, 256)]  # largest m·k·n first
    assert step_shapes([Case("CPU:0", 8, (16, 8, 4)), Case("CPU:0", 32, (16, 8, 4))]) == [(32, 16, 8)]
    assert ceiling_shapes([Case("CPU:0", 8, (16, 8, 4))]) == [SQUARE, (8, 16, 8)]


def test_a_real_probe_times_every_shape_on_the_device():
    tiny = Settings(min_block_s=0.002, min_blocks=2, min_time_s=0.004, max_blocks=3, max_time_s=0.01)
    ceiling = probe_ceiling("CPU:0", [(128, 128, 128), (64, 32, 16), (64, 32, 16)], settings=tiny)
    assert [p.shape for p in ceiling.probes] == [(128, 128, 128), (64, 32, 16)]
    assert all(p.gflops > 0 and len(p.block_s) >= 2 for p in ceiling.probes)
