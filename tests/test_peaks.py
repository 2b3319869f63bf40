"""The peak table: properties every row and every chip family must have, each check shown firing on a planted row."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from simplenn.system import peaks

TIERS = ("", " Pro", " Max", " Ultra")  # within a generation, in rising order


def generation(chip: str) -> int:
    return int(re.match(r"M(\d+)", chip).group(1))


def cited_clock_ghz(source: str) -> float | None:
    """The clock a source names ("1470 MHz", "~1.62 GHz"), or None when it names none."""
    mhz = re.search(r"(\d{4}) MHz", source)
    ghz = re.search(r"(\d\.\d+) GHz", source)
    return int(mhz.group(1)) / 1000 if mhz else float(ghz.group(1)) if ghz else None


def row_problems(row: peaks.ChipPeak) -> list[str]:
    """What is wrong with one row on its own."""
    where, problems = f"{row.chip} {row.gpu_cores}c", []
    if row.kind not in peaks.KIND_WORDING or not row.source:
        problems.append(f"{where}: kind {row.kind!r} or no source")
    # A published figure is Apple's own rounding: 5.2 and 10.4 imply ~1.27 GHz against the measured 1.296.
    formula = peaks.fp32_tflops(row.gpu_cores, row.clock_ghz)
    if row.fp32_tflops != pytest.approx(formula, rel=0.025 if row.kind == "published" else 0.002):
        problems.append(f"{where}: {row.fp32_tflops} TFLOPS is not cores x 128 x 2 x {row.clock_ghz} GHz")
    cited = cited_clock_ghz(row.source)
    if cited is None or cited != pytest.approx(row.clock_ghz, abs=0.0005):
        problems.append(f"{where}: clock {row.clock_ghz} GHz, its source cites {cited}")
    # The kind follows from the source: a published figure is Apple's, stated in its source; a derived clock is
    # measured (metal-benchmarks) for this chip; an estimate's is a third party's listing, or a measured clock of
    # another chip (named in the source) or scaled to a core count the table lacks.
    measured = "metal-benchmarks" in row.source
    basis = re.findall(r"\bM\d+(?: Pro| Max| Ultra)?\b", row.source.split(":", 1)[-1])
    borrowed = "scaled from" in row.source or any(chip != row.chip for chip in basis)
    if ((row.kind == "published" and not (row.source.startswith("Apple, ") and f"{row.fp32_tflops:g} TFLOPS" in row.source))
            or (row.kind == "derived" and (not measured or borrowed))
            or (row.kind == "estimate" and measured and not borrowed)):
        problems.append(f"{where}: kind {row.kind} does not match its source")
    for part in (f"Apple {row.chip}", f"{row.gpu_cores}-core", f"{row.clock_ghz:g} GHz", f"{row.fp32_tflops:g} TFLOPS",
                 peaks.KIND_WORDING.get(row.kind, "?")):
        if part not in row.label:
            problems.append(f"{where}: label {row.label!r} lacks {part!r}")
    return problems


def table_problems(table: tuple[peaks.ChipPeak, ...] = peaks.PEAKS) -> list[str]:
    """What is inconsistent between rows: families, tiers, binned configurations, provenance over generations."""
    problems = [p for row in table for p in row_problems(row)]
    chips = list(dict.fromkeys(row.chip for row in table))
    full = {chip: next(row for row in table if row.chip == chip) for chip in chips}  # lookup() returns the first
    for chip in chips:
        binned = [row for row in table if row.chip == chip][1:]
        problems += [f"{chip}: a binned {row.gpu_cores}-core row not below the full {full[chip].gpu_cores} cores"
                     for row in binned if row.gpu_cores >= full[chip].gpu_cores]
    newest = max(generation(c) for c in chips)
    for gen in range(1, newest + 1):
        tiers = [f"M{gen}{t}" for t in TIERS if f"M{gen}{t}" in full]
        problems += [f"M{gen}{t} missing" for t in TIERS[:3] if f"M{gen}{t}" not in full]
        for lower, upper in zip(tiers, tiers[1:]):
            a, b = full[lower], full[upper]
            if not (a.gpu_cores < b.gpu_cores and a.fp32_tflops < b.fp32_tflops):
                problems.append(f"{upper} is not above {lower}")
            if a.memory_gb_s and b.memory_gb_s and a.memory_gb_s > b.memory_gb_s:
                problems.append(f"{upper} has less memory bandwidth than {lower}")
        ultra, top = full.get(f"M{gen} Ultra"), full.get(f"M{gen} Max")
        if ultra and top and ultra.gpu_cores != 2 * top.gpu_cores:  # an Ultra is two Max dies
            problems.append(f"M{gen} Ultra has {ultra.gpu_cores} cores, not twice the Max's {top.gpu_cores}")
    # Third-party clocks only from some generation on: never a measured generation after an estimated one.
    estimated = [generation(r.chip) for r in table if r.kind == "estimate"]
    problems += [f"{r.chip}: {r.kind} after an estimated generation" for r in table
                 if estimated and r.kind != "estimate" and generation(r.chip) > min(estimated)]
    # Apple states figures for full chips only: a published row is the first (full) row of its chip.
    problems += [f"{r.chip} {r.gpu_cores}c: published, but not the full configuration" for r in table
                 if r.kind == "published" and full[r.chip] is not r]
    return problems


def test_the_table_is_consistent() -> None:
    assert table_problems() == []


def _planted(chip: str, cores: int, **change) -> tuple[peaks.ChipPeak, ...]:
    return tuple(replace(r, **change) if (r.chip, r.gpu_cores) == (chip, cores) else r for r in peaks.PEAKS)


@pytest.mark.parametrize(("table", "words"), [
    (_planted("M4", 10, clock_ghz=1.678, fp32_tflops=peaks.fp32_tflops(10, 1.678)), "its source cites 1.47"),
    (_planted("M2 Pro", 19, fp32_tflops=7.2), "is not cores x 128 x 2"),
    (_planted("M3", 10, kind="derived"), "does not match its source"),
    (_planted("M4", 10, kind="derived", source="philipturner/metal-benchmarks: 1470 MHz"), "after an estimated"),
    (tuple(r for r in peaks.PEAKS if r.chip != "M5 Pro"), "M5 Pro missing"),
    (_planted("M3 Max", 40, gpu_cores=16, fp32_tflops=peaks.fp32_tflops(16, 1.398)), "is not above M3 Pro"),
    (_planted("M2 Ultra", 76, gpu_cores=72, fp32_tflops=peaks.fp32_tflops(72, 1.398)), "not twice the Max"),
    (_planted("M1 Max", 24, gpu_cores=40, fp32_tflops=peaks.fp32_tflops(40, 1.296)), "binned 40-core row"),
    (_planted("M4 Pro", 20, memory_gb_s=600.0), "less memory bandwidth"),
    (_planted("M1 Pro", 14, kind="published"), "published, but not the full configuration"),
    (_planted("M1 Pro", 14, kind="published"), "kind published does not match its source"),
    (_planted("M2 Ultra", 76, kind="derived"), "kind derived does not match its source"),
])
def test_the_consistency_check_fires_on_a_planted_row(table, words) -> None:
    problems = table_problems(table)
    assert any(words in p for p in problems), problems


def test_lookup_returns_the_full_configuration_and_each_row_by_its_core_count() -> None:
    for row in peaks.PEAKS:
        assert peaks.lookup(f"Apple {row.chip}", row.gpu_cores) is row
        assert peaks.lookup(row.chip.lower().replace(" ", "")) is next(r for r in peaks.PEAKS if r.chip == row.chip)


def test_unknown_core_count_is_an_estimate_with_its_basis() -> None:
    binned = peaks.lookup("Apple M1 Max", 28)
    assert binned.kind == "estimate" and binned.clock_ghz == peaks.lookup("M1 Max").clock_ghz
    assert "scaled from the 32-core" in binned.source
    assert row_problems(binned) == []


def test_no_peak_for_an_unknown_chip() -> None:
    assert peaks.lookup("unknown Apple chip") is None
    assert peaks.lookup("Apple processor") is None
    assert peaks.lookup("Intel(R) Core(TM) M3-6Y30") is None  # an Intel "Core M3" is not an Apple M3
