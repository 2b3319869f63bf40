"""A Case: one cell of the benchmark grid (device × batch size × widths × …), validated and named."""
from __future__ import annotations

import math
from dataclasses import dataclass, fields

from simplenn.core.dimensions import COLUMN_OF, DIMENSIONS, FIELD_OF
from simplenn.core.errors import FieldError

DEFAULT_WIDTHS: tuple[int, ...] = (784, 100, 30, 10)
LOSSES = ("sigmoid", "softmax")
DTYPES = ("float32", "float16", "float64")
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
    """FLOPs of one training step's matmuls: forward 2BP + weight gradients 2BP + input gradients 2B(P − P₁).

    B = batch size, P = weight entries, P₁ = the first layer's. Nothing needs the gradient with respect to the
    input batch, so the first layer has no input-gradient matmul: the compiled step holds 3L − 1 MatMul nodes for
    L layers, not 3L (tests/test_flops.py counts them). Biases, activations, the loss and the SGD update are left
    out: element-wise work, about 1 % of the total for 784-100-30-10 (XLA's cost analysis of the JAX step).
    Every implementation computes the same step, so every one is counted the same way.
    """
    p, p1 = n_weights(layer_sizes), layer_sizes[0] * layer_sizes[1]
    return 2.0 * batch_size * p + 2.0 * batch_size * p + 2.0 * batch_size * (p - p1)


FLOPS_FORMULA = ("FLOPs per step = 2BP forward + 2BP weight gradients + 2B(P − P₁) input gradients (B = batch size, "
                 "P = weight entries, P₁ = the first layer's, whose input gradient no step computes); matmuls only: "
                 "biases, activations, loss and update (~1 % for 784-100-30-10) are left out")


@dataclass(frozen=True)
class MatMul:
    """One matmul of a training step: an (m × k) by (k × n) product; a `transpose_*` operand is stored transposed.

    `transpose_a`/`transpose_b` are TensorFlow's MatMul attributes: the weight gradient x^T @ δ reads the stored
    (batch × in) activations transposed, the input gradient δ @ W^T the stored (in × out) weights.
    """

    m: int
    k: int
    n: int
    transpose_a: bool = False
    transpose_b: bool = False
    role: str = ""

    @property
    def flops(self) -> int:
        """2·m·k·n: one multiply and one add per term."""
        return 2 * self.m * self.k * self.n

    @property
    def shapes(self) -> tuple[tuple[int, int], tuple[int, int]]:
        """The two operands' shapes as stored (before TensorFlow transposes them)."""
        a = (self.k, self.m) if self.transpose_a else (self.m, self.k)
        b = (self.n, self.k) if self.transpose_b else (self.k, self.n)
        return a, b

    @property
    def label(self) -> str:
        """'(8192×784)ᵀ @ (8192×100)': the stored operands, ᵀ where TensorFlow transposes one."""
        (a, b), marks = self.shapes, ("ᵀ" if self.transpose_a else "", "ᵀ" if self.transpose_b else "")
        return f"({a[0]}×{a[1]}){marks[0]} @ ({b[0]}×{b[1]}){marks[1]}"

    def key(self) -> tuple[int, int, int, bool, bool]:
        """What makes two matmuls the same work: shape and transposes (not the role)."""
        return self.m, self.k, self.n, self.transpose_a, self.transpose_b


def step_matmuls(batch_size: int, layer_sizes: tuple[int, ...]) -> tuple[MatMul, ...]:
    """The matmuls of one SGD step of the MLP, layer by layer: forward h @ W, weight gradient h^T @ δ, and
    (from the second layer on) input gradient δ @ W^T."""
    out = []
    for i, (n_in, n_out) in enumerate(zip(layer_sizes[:-1], layer_sizes[1:])):
        out.append(MatMul(batch_size, n_in, n_out, role=f"forward {i + 1}"))
        out.append(MatMul(n_in, batch_size, n_out, transpose_a=True, role=f"weight gradient {i + 1}"))
        if i > 0:  # the first layer's input is the data: no gradient is taken with respect to it
            out.append(MatMul(batch_size, n_out, n_in, transpose_b=True, role=f"input gradient {i + 1}"))
    return tuple(out)


@dataclass(frozen=True)
class Case:
    """One benchmark cell. `device` is any TensorFlow device name ('CPU:0', 'GPU:0', 'CPU:1').

    `layer_sizes` lists every layer (input, hidden…, output); files on disk keep the key "widths" for it. Each
    field is one of simplenn.core.dimensions.DIMENSIONS, which says its column and its role in the key sets.
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
        if not self.impl or not isinstance(self.impl, str):  # which ones exist is simplenn.measure.runners' to say
            raise FieldError("impl", f"must name an implementation, got {self.impl!r}")
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
        """The case as stored on disk: one key per dimension (its column name: layer_sizes under "widths")."""
        return {COLUMN_OF[f.name]: (list(v) if isinstance(v := getattr(self, f.name), tuple) else v)
                for f in fields(self)}

    @classmethod
    def from_dict(cls, d: dict) -> "Case":
        """The inverse of to_dict (unknown keys ignored; field names are read too)."""
        names = {f.name for f in fields(cls)}
        kwargs = {FIELD_OF.get(k, k): v for k, v in d.items() if FIELD_OF.get(k, k) in names}
        kwargs["layer_sizes"] = tuple(kwargs["layer_sizes"])
        return cls(**kwargs)

    def columns(self) -> dict:
        """The case as the tidy table holds it: one column per dimension (widths as '784x100x30x10'), and hidden."""
        values = {COLUMN_OF[f.name]: getattr(self, f.name) for f in fields(self)}
        return {**values, "widths": self.widths_label, "hidden": self.hidden}

    def key(self, *without: str) -> tuple:
        """The case's values of every dimension but those named (field or column names): what other cases share."""
        return tuple(getattr(self, d.field) for d in DIMENSIONS if d.field not in without and d.column not in without)


def backend_reason(case: Case, backend: str) -> str | None:
    """Why this case cannot run on a device with this backend ('metal', 'cuda', 'none'), or None.

    The device's limits; an implementation's own are declared in its runner module (simplenn.measure.runners).
    """
    if backend == "metal":
        if case.jit:
            return "XLA (--jit) is not available on Metal: 'Could not find compiler for platform METAL'"
        if case.dtype == "float64":
            return "float64 is not supported on the Metal GPU (Metal has no double type)"
    return None
