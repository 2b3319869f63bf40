"""Titles and axis labels of the report's charts: the charts draw them and the Markdown quotes them."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ChartSpec:
    """Title and axis labels of one chart; `{unit}` in a label is the time unit the chart is drawn in."""

    title: str
    xlabel: str
    ylabel: str

    def in_unit(self, unit: str) -> ChartSpec:
        """This spec with `{unit}` filled in."""
        return ChartSpec(self.title, self.xlabel.format(unit=unit), self.ylabel.format(unit=unit))


CHARTS: dict[str, ChartSpec] = {
    "step_time": ChartSpec("Training step time vs batch size", "batch size (samples)", "median step time ({unit})"),
    "throughput": ChartSpec("Throughput vs batch size", "batch size (samples)", "throughput (samples/s)"),
    "speedup": ChartSpec("Speedup over batch size and network widths", "batch size (samples)",
                         "network widths (layer sizes)"),
    "efficiency": ChartSpec("Efficiency: share of the measured matmul ceiling", "batch size (samples)",
                            "efficiency (% of the device's measured matmul GFLOP/s)"),
    "widths": ChartSpec("Step time vs network widths at a fixed batch size",
                        "network widths (layer sizes, by weight count)", "median step time ({unit})"),
    "time_split": ChartSpec("Where the time goes: host dispatch vs device work", "batch size (samples)",
                            "share of the per-call step time (%)"),
    "inside_step": ChartSpec("Where the time goes inside the step: op classes per batch size",
                             "batch size (samples) and mode", "share of the traced step (%)"),
    "machines": ChartSpec("Speedup vs batch size, one line per machine", "batch size (samples)",
                          "speedup (base / other device median step time, ×)"),
    "frameworks": ChartSpec("Frameworks: step time of each implementation and mode", "median step time ({unit}, log)",
                            "implementation and mode"),
}
