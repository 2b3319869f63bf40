"""The confusion-matrix chart `train --out DIR` writes (confusion.png), saved atomically with normal permissions."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from simplenn.core.errors import FieldError

FILENAME = "confusion.png"


def confusion_figure(cm: pd.DataFrame, title: str) -> Figure:
    """A heat map of counts (true rows × predicted columns), shaded by each true class's share, counts written in."""
    counts = cm.to_numpy()
    row_share = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    fig = Figure(figsize=(7, 6.2), dpi=120)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    image = ax.imshow(row_share, cmap="Blues", vmin=0.0, vmax=1.0)
    for (i, j), n in np.ndenumerate(counts):
        if n:
            ax.text(j, i, str(n), ha="center", va="center", fontsize=9,
                    color="white" if row_share[i, j] > 0.6 else "black")
    ax.set_xticks(range(len(cm.columns)), [str(c) for c in cm.columns])
    ax.set_yticks(range(len(cm.index)), [str(c) for c in cm.index])
    ax.set_xlabel("predicted digit")
    ax.set_ylabel("true digit")
    ax.set_title(title, fontsize=10)
    fig.colorbar(image, ax=ax, label="share of the true digit's test images")
    fig.tight_layout()
    return fig


def prepare_out_dir(out: Path | str) -> Path:
    """Create `out` (and parents) if needed; a one-line FieldError naming out_dir if it is a file or not writable."""
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise FieldError("out_dir", f"{out} exists and is not a directory") from None
    except OSError as e:
        raise FieldError("out_dir", f"cannot create {out}: {e.strerror or e}") from None
    if not os.access(out, os.W_OK | os.X_OK):
        raise FieldError("out_dir", f"{out} is not writable")
    return out


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def save_png(fig: Figure, path: Path) -> Path:
    """Write `fig` to `path` through a temp file + os.replace; mode 0666 minus the umask; OSError → UsageError."""
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}", suffix=".png.tmp")
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), 0o666 & ~_umask())  # mkstemp makes 0600; the chart is meant to be shared
            fig.savefig(f, format="png")
        os.replace(tmp, path)
    except OSError as e:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
        raise FieldError("out_dir", f"cannot write {path}: {e.strerror or e}") from None
    return path


def write_confusion(cm: pd.DataFrame, title: str, out: Path | str) -> Path:
    """Draw and save confusion.png in `out`; returns its path."""
    out = prepare_out_dir(out)
    return save_png(confusion_figure(cm, title), out / FILENAME)
