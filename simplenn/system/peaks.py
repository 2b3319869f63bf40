"""Peak FP32 figures of Apple Silicon GPUs, so a measured GFLOP/s can be put next to what the chip could do.

Every row carries its GPU clock, its source, and a kind:
  - "published": Apple stated the TFLOPS figure itself: the 8-core M1 (2.6, Apple's M1 announcement of
    2020-11-10, as reported by macrumors.com), the 16-core M1 Pro (5.2) and the 32-core M1 Max (10.4, both at the
    2021-10-18 event, as reported by stuff.co.za and italy24news.com); none for the M2 family or later. Apple's
    5.2 and 10.4 imply ~1.27 GHz, 2 % below the measured 1296 MHz the row keeps;
  - "derived": FP32 = GPU cores x 128 ALUs x 2 FLOPs per FMA x a clock measured by third parties
    (philipturner/metal-benchmarks lists M1 at 1278 MHz, M1 Pro/Max/Ultra at 1296 MHz, M2/M2 Pro/M2 Max at
    1398 MHz);
  - "estimate": the same formula with a clock no measurement covers: third-party spec listings (M3, M4, M5
    families), the M2 Ultra (metal-benchmarks lists no Ultra of the M2 generation; the M2 Max clock is assumed), or
    a core count not in the table scaled per core.
Memory bandwidth is Apple's published figure (GB/s), None where Apple published none.
Reports must say "% of peak" only next to the chip, core count and kind used.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Literal

Kind = Literal["published", "derived", "estimate"]
# How the report should word each kind next to a peak.
KIND_WORDING = {
    "published": "published by Apple",
    "derived": "derived: cores x 128 x 2 x measured clock",
    "estimate": "estimate: third-party clock",
}


@dataclass(frozen=True)
class ChipPeak:
    """One chip configuration: FP32 GPU peak (TFLOPS), memory bandwidth (GB/s), GPU clock (GHz) and provenance."""

    chip: str  # "M2 Pro"
    gpu_cores: int
    fp32_tflops: float
    memory_gb_s: float | None
    clock_ghz: float
    kind: Kind
    source: str

    @property
    def is_estimate(self) -> bool:
        """True when the figure rests on a third-party clock or a per-core scaling (kind "estimate")."""
        return self.kind == "estimate"

    @property
    def fp32_gflops(self) -> float:
        return self.fp32_tflops * 1000.0

    @property
    def label(self) -> str:
        memory = f", {self.memory_gb_s:g} GB/s" if self.memory_gb_s else ""
        return (f"Apple {self.chip}, {self.gpu_cores}-core GPU at {self.clock_ghz:g} GHz: "
                f"{self.fp32_tflops:g} TFLOPS FP32 ({KIND_WORDING[self.kind]}){memory}")


def fp32_tflops(gpu_cores: int, clock_ghz: float) -> float:
    """FP32 TFLOPS of an Apple GPU: cores x 128 ALUs x 2 FLOPs (one FMA) x clock."""
    return round(gpu_cores * 128 * 2 * clock_ghz / 1000.0, 2)


_MB = "philipturner/metal-benchmarks"
_HMC = "hmc-tech.com spec listing"


def _family(chip: str, cores: tuple[int, ...], clock_ghz: float, memory: tuple[float | None, ...], kind: Kind,
            source: str) -> tuple[ChipPeak, ...]:
    return tuple(ChipPeak(chip, n, fp32_tflops(n, clock_ghz), mem, clock_ghz, kind, source)
                 for n, mem in zip(cores, memory))


# Full-GPU configurations first within each chip: lookup() without a core count returns the first row.
PEAKS: tuple[ChipPeak, ...] = (
    ChipPeak("M1", 8, 2.6, 68.25, 1.278, "published",
             f"Apple, 2020-11-10: 2.6 TFLOPS (cores x 128 x 2 x 1278 MHz from {_MB} gives 2.62)"),
    *_family("M1", (7,), 1.278, (68.25,), "derived", f"{_MB}: 1278 MHz"),
    ChipPeak("M1 Pro", 16, 5.2, 200.0, 1.296, "published",
             f"Apple, 2021-10-18: 5.2 TFLOPS (cores x 128 x 2 x 1296 MHz from {_MB} gives 5.31)"),
    *_family("M1 Pro", (14,), 1.296, (200.0,), "derived", f"{_MB}: 1296 MHz"),
    ChipPeak("M1 Max", 32, 10.4, 400.0, 1.296, "published",
             f"Apple, 2021-10-18: 10.4 TFLOPS (cores x 128 x 2 x 1296 MHz from {_MB} gives 10.62)"),
    *_family("M1 Max", (24,), 1.296, (400.0,), "derived", f"{_MB}: 1296 MHz"),
    *_family("M1 Ultra", (64, 48), 1.296, (800.0, 800.0), "derived", f"{_MB}: 1296 MHz"),
    *_family("M2", (10, 8), 1.398, (100.0, 100.0), "derived", f"{_MB}: 1398 MHz"),
    *_family("M2 Pro", (19, 16), 1.398, (200.0, 200.0), "derived", f"{_MB}: 1398 MHz"),
    *_family("M2 Max", (38, 30), 1.398, (400.0, 400.0), "derived", f"{_MB}: 1398 MHz"),
    *_family("M2 Ultra", (76, 60), 1.398, (800.0, 800.0), "estimate",
             f"{_MB}: M2 Max at 1398 MHz (no Ultra measured)"),
    # M3: hmc-tech.com lists the 40-core M3 Max at 1398 MHz (14.32 TFLOPS); the same clock is assumed family-wide.
    *_family("M3", (10, 8), 1.398, (100.0, 100.0), "estimate", f"{_HMC}: M3 Max at 1398 MHz"),
    *_family("M3 Pro", (18, 14), 1.398, (150.0, 150.0), "estimate", f"{_HMC}: M3 Max at 1398 MHz"),
    *_family("M3 Max", (40, 30), 1.398, (400.0, 300.0), "estimate", f"{_HMC}: 1398 MHz"),
    *_family("M3 Ultra", (80, 60), 1.398, (819.0, 819.0), "estimate", f"{_HMC}: M3 Max at 1398 MHz"),
    # M4: third-party clocks run 1.47-1.68 GHz (hmc-tech.com: 10-core M4 1470 MHz = 3.76 TFLOPS; 32-core M4 Max
    # 1678 MHz = 13.74 TFLOPS). Each chip takes the listing for its own die; the M4 Pro, listed nowhere, the M4's.
    *_family("M4", (10, 8), 1.47, (120.0, 120.0), "estimate", f"{_HMC}: 10-core M4 at 1470 MHz"),
    *_family("M4 Pro", (20, 16), 1.47, (273.0, 273.0), "estimate", f"{_HMC}: M4 at 1470 MHz"),
    *_family("M4 Max", (40, 32), 1.678, (546.0, 410.0), "estimate", f"{_HMC}: 32-core M4 Max at 1678 MHz"),
    # M5 (Apple newsroom 2025-10-15: 10-core GPU, 153 GB/s); M5 Pro up to 20 GPU cores and 307 GB/s, M5 Max up to
    # 40 and 614 GB/s (Apple, 2026-03, as reported by morningoverview.com and MacRumors). Clocks: hmc-tech.com lists
    # the 10-core M5 at 1740 MHz (4.45 TFLOPS); the M5 Max GPU is put at up to ~1.62 GHz by third parties (issue
    # 14; no primary source found). The binned 32-core M5 Max's bandwidth is not published.
    *_family("M5", (10,), 1.74, (153.0,), "estimate", f"{_HMC}: 10-core M5 at 1740 MHz"),
    *_family("M5 Pro", (20,), 1.62, (307.0,), "estimate", "third-party M5 Max clock (~1.62 GHz) assumed"),
    *_family("M5 Max", (40, 32), 1.62, (614.0, None), "estimate", "third-party clock, up to ~1.62 GHz"),
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
    return replace(full, gpu_cores=int(gpu_cores), fp32_tflops=fp32_tflops(int(gpu_cores), full.clock_ghz),
                   kind="estimate", source=f"{full.source}; scaled from the {full.gpu_cores}-core {full.chip}")
