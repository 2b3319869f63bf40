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
        assert row.fp32_tflops == pytest.approx(formula, rel=0.02 if row.kind == "published" else 0.002), row


def test_only_the_m1_figure_is_published_by_apple() -> None:
    m1 = peaks.lookup("Apple M1")
    assert (m1.kind, m1.fp32_tflops, m1.is_estimate) == ("published", 2.6, False)
    assert [row for row in peaks.PEAKS if row.kind == "published"] == [m1]


@pytest.mark.parametrize("chip", ["M1 Pro", "M1 Max", "M1 Ultra", "M2", "M2 Pro", "M2 Max", "M2 Ultra"])
def test_m1_m2_are_derived_from_metal_benchmarks_clocks_not_published(chip: str) -> None:
    # Apple published no TFLOPS for the M2 family: the figures are cores x 128 x 2 x clock.
    row = peaks.lookup(chip)
    assert row.kind == "derived" and not row.is_estimate
    assert "metal-benchmarks" in row.source


@pytest.mark.parametrize("chip", ["M3", "M3 Max", "M4", "M4 Pro", "M4 Max", "M5", "M5 Pro", "M5 Max"])
def test_m3_and_later_are_estimates(chip: str) -> None:
    row = peaks.lookup(chip)
    assert row.kind == "estimate" and row.is_estimate and row.estimate


def test_m4_uses_a_cited_third_party_clock() -> None:
    m4 = peaks.lookup("Apple M4", 10)
    assert m4.clock_ghz == pytest.approx(1.47)  # not the ~1.68 GHz the old 4.3 TFLOPS implied
    assert 3.7 <= m4.fp32_tflops <= 4.1


def test_m5_family_is_present() -> None:
    m5max = peaks.lookup("Apple M5 Max")
    assert m5max.gpu_cores == 40 and m5max.clock_ghz <= 1.62
    assert peaks.lookup("Apple M5", 10).memory_gb_s == 153
    assert peaks.lookup("Apple M5 Pro").memory_gb_s is None  # Apple's figure not found: none invented


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
