"""What TensorFlow sees: devices with kind and backend, selection by friendly or TF name, logical CPUs.

Every device TensorFlow lists that is not a CPU is an accelerator, of kind "gpu" here whatever TensorFlow calls its
type: the Metal GPU and a CUDA GPU (type GPU), or any PluggableDevice with a type of its own (Intel's XPU,
DirectML's DML, the stand-in's SIMGPU). `--devices gpu` selects the first one; its TensorFlow name selects any.
"""
from __future__ import annotations

import importlib.metadata
import sys
from dataclasses import asdict, dataclass

from simplenn.core.errors import FieldError, UsageError


@dataclass(frozen=True)
class Device:
    """A TensorFlow logical device: `name` is the short TF name ('CPU:0', 'GPU:0')."""

    name: str
    kind: str  # "cpu" | "gpu" (any accelerator)
    backend: str  # "none" (CPU) | "metal" | "cuda" | "rocm" | a PluggableDevice's platform, lower case | "unknown"
    description: str = ""  # the platform or model TensorFlow reports (get_device_details' device_name)

    def to_dict(self) -> dict:
        return asdict(self)


def short_name(tf_name: str) -> str:
    """'/job:localhost/replica:0/task:0/device:CPU:1' or '/device:CPU:1' -> 'CPU:1'."""
    return tf_name.rsplit("device:", 1)[-1].lstrip("/")


# Device types TensorFlow may list that run no ops of ours.
NOT_COMPUTE = frozenset({"TPU_SYSTEM"})


def backend_of(kind: str, details: dict, platform: str, metal_installed: bool, built_with_cuda: bool,
               built_with_rocm: bool = False, device_type: str = "GPU") -> str:
    """Which backend an accelerator runs on, from TF's device type and details and what is installed."""
    if kind != "gpu":
        return "none"
    name = str(details.get("device_name", ""))
    if name.upper() == "METAL":
        return "metal"
    if device_type.upper() != "GPU":  # a PluggableDevice of its own type: its platform is its backend
        return (name or device_type).lower()
    if platform == "darwin" and metal_installed:
        return "metal"
    if "compute_capability" in details or built_with_cuda:
        return "cuda"
    if built_with_rocm:
        return "rocm"
    return "unknown"


def _metal_installed() -> bool:
    try:
        importlib.metadata.version("tensorflow-metal")
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


def setup_logical_cpus(n: int) -> None:
    """Split the CPU into n logical devices (CPU:0 … CPU:n-1). Must run before TensorFlow initialises devices.

    This is how the two-device (CPU vs GPU) path is exercised on a machine without a GPU.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise FieldError("logical_cpus", f"must be an integer ≥ 1, got {n!r}")
    from simplenn.system.tfimport import tensorflow

    tf = tensorflow()
    cpu = tf.config.list_physical_devices("CPU")[0]
    current = tf.config.get_logical_device_configuration(cpu)
    if n == 1 and not current:
        return
    if current is not None and len(current) == n:
        return
    try:
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(n)])
    except RuntimeError as e:
        raise FieldError("logical_cpus", f"TensorFlow's devices are already initialised in this process ({e})") from None


def list_devices() -> list[Device]:
    """Every logical device TensorFlow sees, CPUs first."""
    from simplenn.system.tfimport import tensorflow

    tf = tensorflow()
    physical = {p.device_type: p for p in tf.config.list_physical_devices()}
    metal = _metal_installed()
    out = []
    for logical in tf.config.list_logical_devices():
        if logical.device_type in NOT_COMPUTE:
            continue
        kind = "cpu" if logical.device_type == "CPU" else "gpu"
        details = {}
        if logical.device_type in physical:
            try:
                details = tf.config.experimental.get_device_details(physical[logical.device_type]) or {}
            except Exception:  # noqa: BLE001 — details are optional decoration
                details = {}
        backend = backend_of(kind, details, sys.platform, metal, tf.test.is_built_with_cuda(),
                             tf.test.is_built_with_rocm(), logical.device_type)
        out.append(Device(short_name(logical.name), kind, backend, str(details.get("device_name", ""))))
    return sorted(out, key=lambda d: (d.kind != "cpu", d.name))


def select(requested: list[str], devices: list[Device], gpu_missing_reason: str = "", option: str = "devices") -> list[Device]:
    """Resolve friendly names ('cpu', 'gpu' = the first accelerator, 'all') and TF names ('CPU:1', 'gpu:0',
    'SIMGPU:0') against the present devices.

    An absent device is an error naming `option` (a field, which the CLI maps to its flag, or the caller's
    flag) and listing what is present (and why a GPU may be missing),
    never a CPU stand-in.
    """
    by_name = {d.name.upper(): d for d in devices}
    chosen: list[Device] = []
    for req in requested:
        key = req.strip()
        if key.lower() == "all":
            matches = list(devices)
        elif key.lower() in ("cpu", "gpu"):
            matches = [d for d in devices if d.kind == key.lower()][:1]
        else:
            d = by_name.get(short_name(key).upper())
            matches = [d] if d else []
        if not matches:
            present = ", ".join(d.name for d in devices) or "none"
            why = f" ({gpu_missing_reason})" if gpu_missing_reason and "gpu" in key.lower() else ""
            raise FieldError(option, f"{key!r} is not present; TensorFlow sees: {present}{why}")
        chosen.extend(m for m in matches if m not in chosen)
    return chosen


def gpu_missing_reason() -> str:
    """Why no GPU is visible here, in one sentence (delegates to the version guard where it exists)."""
    try:
        from simplenn.system import compat  # noqa: PLC0415

        import platform  # noqa: PLC0415

        return compat.why_no_gpu(compat.installed_versions(), sys.platform, platform.machine(), sys.version_info[:3])
    except (ImportError, AttributeError):
        return "no GPU is visible to TensorFlow"
