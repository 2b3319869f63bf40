"""`Progress`: what the run loop tells its caller after each cell, and the ETA at this process's pace."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Progress:
    """What the caller is told after each cell (for a progress bar and its ETA)."""

    done: int
    total: int
    record: dict
    elapsed_s: float  # since this process began measuring cells (after the start-of-run ceiling probes)
    done_before: int = 0  # cells already recorded when this process began (a resumed run)

    @property
    def eta_s(self) -> float | None:
        """Seconds until the last cell at this process's pace so far; None before it has measured a cell. The
        end-of-run probes and parity checks (seconds, not minutes) are not counted."""
        measured = self.done - self.done_before
        return None if measured <= 0 else self.elapsed_s / measured * (self.total - self.done)
