"""The peak table: every row's kind, clock and source, and the corrections from public evidence (issue 14)."""

from __future__ import annotations

import pytest

from simplenn.system import peaks


def test_every_row_has_a_clock_a_source_and_a_kind() -> None:
    for row in peaks.PEAKS:
        assert row.kind in ("published", "derived", "estimate"), row
        assert 1.0 < row.clock_ghz < 2.0 and row.source, row
        # The figure is what the formula gives for its own clock (Apple's own rounding for a published one).
        formula = row.gpu_cores * 128 * 2 * row.clock_ghz / 1000
        # A published figure is Apple's own rounding: 5.2 and 10.4 imply ~1.27 GHz against the measured 1.296.
        assert row.fp32_tflops == pytest.approx(formula, rel=0.025 if row.kind == "published" else 0.002), row


def test_published_rows_are_apples_own_figures() -> None:
    # Apple stated 2.6 TFLOPS for the M1, 5.2 for the 16-core M1 Pro and 10.4 for the 32-core M1 Max (issue 25).
    published = {(row.chip, row.gpu_cores): row.fp32_tflops for row in peaks.PEAKS if row.kind == "published"}
    assert published == {("M1", 8): 2.6, ("M1 Pro", 16): 5.2, ("M1 Max", 32): 10.4}
    assert not peaks.lookup("Apple M1 Max").is_estimate and peaks.lookup("Apple M1 Pro").fp32_tflops == 5.2


@pytest.mark.parametrize(("chip", "cores"), [("M1", 7), ("M1 Pro", 14), ("M1 Max", 24), ("M1 Ultra", 64),
                                             ("M2", 10), ("M2 Pro", 19), ("M2 Max", 38)])
def test_m1_m2_are_derived_from_metal_benchmarks_clocks_not_published(chip: str, cores: int) -> None:
    # The binned M1 Pro/Max, the M1 Ultra and the M2 family: cores x 128 x 2 x a clock metal-benchmarks measured.
    row = peaks.lookup(chip, cores)
    assert row.kind == "derived" and not row.is_estimate
    assert "metal-benchmarks" in row.source


@pytest.mark.parametrize("chip", ["M2 Ultra", "M3", "M3 Max", "M4", "M4 Pro", "M4 Max", "M5", "M5 Pro", "M5 Max"])
def test_m2_ultra_m3_and_later_are_estimates(chip: str) -> None:
    # metal-benchmarks' clock table has no M2 Ultra row (issue 25): its clock is assumed, so it is an estimate.
    row = peaks.lookup(chip)
    assert row.kind == "estimate" and row.is_estimate


def test_m4_max_uses_its_own_listing() -> None:
    # hmc-tech.com lists the 32-core M4 Max at 1678 MHz (13.74 TFLOPS); the M4's 1470 MHz put it 12 % low.
    row = peaks.lookup("Apple M4 Max", 32)
    assert row.clock_ghz == pytest.approx(1.678) and row.fp32_tflops == pytest.approx(13.74, abs=0.01)


def test_m4_uses_a_cited_third_party_clock() -> None:
    m4 = peaks.lookup("Apple M4", 10)
    assert m4.clock_ghz == pytest.approx(1.47)  # not the ~1.68 GHz the old 4.3 TFLOPS implied
    assert 3.7 <= m4.fp32_tflops <= 4.1


def test_m5_family_is_present() -> None:
    m5max = peaks.lookup("Apple M5 Max")
    assert m5max.gpu_cores == 40 and m5max.clock_ghz <= 1.62
    assert peaks.lookup("Apple M5", 10).memory_gb_s == 153
    # Apple's figures for the M5 Pro and M5 Max (2026-03); the binned M5 Max's is unpublished: none invented.
    assert peaks.lookup("Apple M5 Pro").memory_gb_s == 307 and m5max.memory_gb_s == 614
    assert peaks.lookup("Apple M5 Max", 32).memory_gb_s is None


def test_unknown_core_count_is_an_estimate_with_its_basis() -> None:
    binned = peaks.lookup("Apple M1 Max", 28)
    assert binned.kind == "estimate" and binned.clock_ghz == peaks.lookup("M1 Max").clock_ghz
    assert "scaled from the 32-core" in binned.source


def test_no_peak_for_an_unknown_chip() -> None:
    assert peaks.lookup("unknown Apple chip") is None
    assert peaks.lookup("Apple processor") is None


def test_label_names_clock_and_kind() -> None:
    label = peaks.lookup("Apple M2 Pro").label
    assert "1.398 GHz" in label and "derived" in label
    assert peaks.KIND_WORDING.keys() == {"published", "derived", "estimate"}
