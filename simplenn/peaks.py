"""Published peak figures of Apple Silicon GPUs, so a measured GFLOP/s can be put next to what the chip could do.

Sources (FP32 = GPU cores × 128 ALUs × 2 FLOPs per FMA × GPU clock):
  - Apple newsroom / product pages and spec sheets for M1 (2020), M1 Pro/Max (2021), M1 Ultra (2022),
    M2 (2022), M2 Pro/Max (2023), M2 Ultra (2023): FP32 TFLOPS of the full GPU and unified-memory bandwidth.
  - Apple product pages for M3 (2023) and M4 (2024) families: GPU core counts and memory bandwidth only;
    Apple no longer publishes TFLOPS, so their FP32 figures are third-party estimates from core count × clock
    (public spec databases and reviews) and are marked `estimate=True`.
  - Binned variants (fewer GPU cores than the full chip) are scaled per core from the full chip's figure and
    marked as estimates unless Apple published that variant's number.
Reports must say "% of published peak" only next to the chip and core count used, and flag estimates.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, replace


@dataclass(frozen=True)
class ChipPeak:
    """One chip configuration: FP32 GPU peak in TFLOPS and memory bandwidth in GB/s."""

    chip: str  # "M2 Pro"
    gpu_cores: int
    fp32_tflops: float
    memory_gb_s: float
    estimate: bool = False

    @property
    def fp32_gflops(self) -> float:
        return self.fp32_tflops * 1000.0

    @property
    def label(self) -> str:
        flag = " (estimate)" if self.estimate else ""
        return f"Apple {self.chip}, {self.gpu_cores}-core GPU: {self.fp32_tflops:g} TFLOPS FP32{flag}, {self.memory_gb_s:g} GB/s"


# Full-GPU configurations first within each chip: lookup() without a core count returns the first row.
PEAKS: tuple[ChipPeak, ...] = (
    ChipPeak("M1", 8, 2.6, 68.25),
    ChipPeak("M1", 7, 2.3, 68.25, estimate=True),
    ChipPeak("M1 Pro", 16, 5.3, 200.0),
    ChipPeak("M1 Pro", 14, 4.6, 200.0, estimate=True),
    ChipPeak("M1 Max", 32, 10.6, 400.0),
    ChipPeak("M1 Max", 24, 7.9, 400.0, estimate=True),
    ChipPeak("M1 Ultra", 64, 21.2, 800.0),
    ChipPeak("M1 Ultra", 48, 15.9, 800.0, estimate=True),
    ChipPeak("M2", 10, 3.6, 100.0),
    ChipPeak("M2", 8, 2.9, 100.0, estimate=True),
    ChipPeak("M2 Pro", 19, 6.8, 200.0),
    ChipPeak("M2 Pro", 16, 5.7, 200.0, estimate=True),
    ChipPeak("M2 Max", 38, 13.6, 400.0),
    ChipPeak("M2 Max", 30, 10.7, 400.0, estimate=True),
    ChipPeak("M2 Ultra", 76, 27.2, 800.0),
    ChipPeak("M2 Ultra", 60, 21.5, 800.0, estimate=True),
    ChipPeak("M3", 10, 3.6, 100.0, estimate=True),
    ChipPeak("M3", 8, 2.9, 100.0, estimate=True),
    ChipPeak("M3 Pro", 18, 6.4, 150.0, estimate=True),
    ChipPeak("M3 Pro", 14, 5.0, 150.0, estimate=True),
    ChipPeak("M3 Max", 40, 14.2, 400.0, estimate=True),
    ChipPeak("M3 Max", 30, 10.7, 300.0, estimate=True),
    ChipPeak("M3 Ultra", 80, 28.4, 819.0, estimate=True),
    ChipPeak("M3 Ultra", 60, 21.3, 819.0, estimate=True),
    ChipPeak("M4", 10, 4.3, 120.0, estimate=True),
    ChipPeak("M4", 8, 3.4, 120.0, estimate=True),
    ChipPeak("M4 Pro", 20, 8.6, 273.0, estimate=True),
    ChipPeak("M4 Pro", 16, 6.9, 273.0, estimate=True),
    ChipPeak("M4 Max", 40, 17.2, 546.0, estimate=True),
    ChipPeak("M4 Max", 32, 13.8, 410.0, estimate=True),
)

def normalize_chip(name: str) -> str | None:
    """'Apple M2 Pro' / 'm2pro' / 'Apple M2 Pro (12-core CPU)' -> 'M2 Pro'; None when no Apple M-series chip is named."""
    # Anchored at the start so an Intel "Core M3-6Y30" is not taken for an Apple M3.
    m = re.match(r"\s*(?:apple\s+)?M(\d+)\s*(pro|max|ultra)?\b", name or "", flags=re.IGNORECASE)
    if not m:
        return None
    suffix = m.group(2)
    return f"M{m.group(1)}" + (f" {suffix.capitalize()}" if suffix else "")


def lookup(chip_name: str | None, gpu_cores: int | None = None) -> ChipPeak | None:
    """The peak row for a chip name (tolerant of 'Apple M2 Pro') and GPU core count, or None if unknown.

    Without a core count the full configuration is returned. A core count not in the table is scaled per core
    from the full configuration and marked as an estimate, so a binned chip is not compared with the full one.
    """
    chip = normalize_chip(chip_name or "")
    rows = [p for p in PEAKS if p.chip == chip]
    if not rows:
        return None
    if gpu_cores is None or gpu_cores <= 0:
        return rows[0]
    for row in rows:
        if row.gpu_cores == gpu_cores:
            return row
    full = rows[0]
    scaled = round(full.fp32_tflops * gpu_cores / full.gpu_cores, 1)
    return replace(full, gpu_cores=int(gpu_cores), fp32_tflops=scaled, estimate=True)
