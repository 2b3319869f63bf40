"""A Case: one cell of the benchmark grid (device × batch size × widths × …), validated and named."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

from simplenn.core.errors import FieldError

DEFAULT_WIDTHS: tuple[int, ...] = (784, 100, 30, 10)
LOSSES = ("sigmoid", "softmax")
DTYPES = ("float32", "float16", "float64")
IMPLS = ("scratch", "keras", "torch", "jax", "mlx")
MODES = ("per-call", "in-graph")
STATUSES = ("ok", "invalid", "unsupported", "oom", "crashed", "timeout", "skipped")


def check_widths(layer_sizes: tuple[int, ...] | list[int], field: str = "layer_sizes") -> tuple[int, ...]:
    """Return the layer sizes (input, hidden…, output) as a tuple after checking there are ≥2 positive integers."""
    sizes = tuple(layer_sizes)
    if len(sizes) < 2:
        raise FieldError(field, f"need at least an input and an output size, got {list(sizes)}")
    if any(not isinstance(w, int) or isinstance(w, bool) or w <= 0 for w in sizes):
        raise FieldError(field, f"every layer size must be a positive integer, got {list(sizes)}")
    return sizes


def check_choice(value: str, allowed: tuple[str, ...], field: str) -> str:
    """Return value if it is one of `allowed`; else a FieldError naming the field and the allowed values."""
    if value not in allowed:
        raise FieldError(field, f"{value!r} is not one of {', '.join(allowed)}")
    return value


def check_positive(value: float, field: str) -> float:
    """Return value if it is > 0 (bools and NaN refused)."""
    if isinstance(value, bool) or not value > 0:  # `not >` also rejects NaN
        raise FieldError(field, f"must be > 0, got {value!r}")
    return value


def check_seconds(value: float, field: str) -> float:
    """A positive, finite number of seconds (bools and NaN refused)."""
    if isinstance(value, bool) or not (isinstance(value, (int, float)) and value > 0 and math.isfinite(value)):
        raise FieldError(field, f"must be a positive number of seconds, got {value!r}")
    return value


def device_slug(device: str) -> str:
    """'CPU:0' -> 'cpu', 'CPU:1' -> 'cpu1', 'GPU:0' -> 'gpu' (the id prefix used in benchmark ids)."""
    kind, _, index = device.rpartition("/")[2].replace("device:", "").partition(":")
    kind = kind.lower()
    return kind if index in ("", "0") else f"{kind}{index}"


def n_weights(layer_sizes: tuple[int, ...]) -> int:
    """Number of weight-matrix entries (biases excluded): Σ in × out over the layers."""
    return sum(a * b for a, b in zip(layer_sizes[:-1], layer_sizes[1:]))


def flops_per_step(batch_size: int, layer_sizes: tuple[int, ...]) -> float:
    """FLOPs of one training step ≈ 6 × batch × weight entries (forward 2BP, two backward matmuls 4BP)."""
    return 6.0 * batch_size * n_weights(layer_sizes)


FLOPS_FORMULA = "FLOPs per step = 6 × batch size × weight entries (forward 2BP + backward 4BP; biases and activations ignored)"


@dataclass(frozen=True)
class Case:
    """One benchmark cell. `device` is any TensorFlow device name ('CPU:0', 'GPU:0', 'CPU:1').

    `layer_sizes` lists every layer (input, hidden…, output); files on disk keep the key "widths" for it.
    """

    device: str
    batch_size: int
    layer_sizes: tuple[int, ...] = DEFAULT_WIDTHS
    loss: str = "sigmoid"
    dtype: str = "float32"
    jit: bool = False
    impl: str = "scratch"
    mode: str = "per-call"

    def __post_init__(self) -> None:
        object.__setattr__(self, "layer_sizes", check_widths(self.layer_sizes))
        if isinstance(self.batch_size, bool) or not isinstance(self.batch_size, int) or self.batch_size <= 0:
            raise FieldError("batch_size", f"batch size must be a positive integer, got {self.batch_size!r}")
        check_choice(self.loss, LOSSES, "loss")
        check_choice(self.dtype, DTYPES, "dtype")
        check_choice(self.impl, IMPLS, "impl")
        check_choice(self.mode, MODES, "mode")
        if not self.device:
            raise FieldError("device", "empty device name")

    @property
    def hidden(self) -> str:
        """Hidden sizes as '100x30' ('none' for a network without hidden layers)."""
        return "x".join(map(str, self.layer_sizes[1:-1])) or "none"

    @property
    def widths_label(self) -> str:
        """Every layer size as '784x100x30x10' (the "widths" column of the files on disk)."""
        return "x".join(map(str, self.layer_sizes))

    @property
    def n_weights(self) -> int:
        """Weight-matrix entries of the network (biases excluded)."""
        return n_weights(self.layer_sizes)

    @property
    def flops_per_step(self) -> float:
        """FLOPs of one training step (see FLOPS_FORMULA)."""
        return flops_per_step(self.batch_size, self.layer_sizes)

    @property
    def id(self) -> str:
        """A readable unique id, e.g. 'cpu-b256-w100x30'; non-default settings add suffixes."""
        parts = [device_slug(self.device), f"b{self.batch_size}", f"w{self.hidden}"]
        if self.layer_sizes[0] != 784 or self.layer_sizes[-1] != 10:
            parts[-1] = f"w{self.widths_label}"
        if self.loss != "sigmoid":
            parts.append(self.loss)
        if self.dtype != "float32":
            parts.append({"float16": "f16", "float64": "f64"}[self.dtype])
        if self.jit:
            parts.append("xla")
        if self.mode != "per-call":
            parts.append(self.mode)
        if self.impl != "scratch":
            parts.append(self.impl)
        return "-".join(parts)

    def to_dict(self) -> dict:
        """The case as stored on disk: field names, except that layer_sizes is kept under "widths"."""
        return {("widths" if k == "layer_sizes" else k): (list(v) if k == "layer_sizes" else v)
                for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, d: dict) -> "Case":
        """The inverse of to_dict (unknown keys ignored)."""
        names = {f.name for f in fields(cls)}
        kwargs = {k: v for k, v in d.items() if k in names}
        kwargs["layer_sizes"] = tuple(d["widths"] if "widths" in d else d["layer_sizes"])
        return cls(**kwargs)


def unsupported_reason(case: Case, backend: str) -> str | None:
    """Why this case cannot run on a device with this backend ('metal', 'cuda', 'none'), or None.

    Covers the implementation's limits (keras/torch/mlx have no in-graph mode) and the device's (Metal).

    Known before anything runs, so the cell is reported `unsupported` instead of failing or, worse, silently
    running on the CPU.
    """
    if case.impl == "keras" and case.mode == "in-graph":
        return "keras is timed through train_on_batch (one call per step); in-graph mode is not available for it"
    if case.impl == "torch":
        if case.mode == "in-graph":
            return "torch runs eagerly, one Python call per step; in-graph mode is not available for it"
        if case.jit:
            return "torch.compile is not benchmarked; --jit applies to TensorFlow's XLA only"
    if case.impl == "mlx":
        if case.mode == "in-graph":
            return ("mlx is timed one mx.compile'd call per step; in-graph mode (n steps in one graph) "
                    "is not built for it")
        if case.jit:
            return "--jit applies to TensorFlow's XLA only; the mlx step is always mx.compile'd"
    if backend == "metal":
        if case.jit:
            return "XLA (--jit) is not available on Metal: 'Could not find compiler for platform METAL'"
        if case.dtype == "float64":
            return "float64 is not supported on the Metal GPU (Metal has no double type)"
    return None
