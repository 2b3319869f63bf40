"""Device memory as TensorFlow reports it: the allocator's peak per cell, and which errors mean it ran out."""
from __future__ import annotations

# A copy into a device that is out of memory fails as InternalError "Dst tensor is not initialized" rather than
# ResourceExhaustedError (tensorflow#7025, on CUDA GPUs; the stand-in GPU gives the same when its limit is reached).
_OUT_OF_MEMORY_TEXTS = ("Dst tensor is not initialized",)


def reset_peak_bytes(tf, device: str) -> None:
    """Reset the device allocator's peak, where the allocator keeps statistics."""
    try:
        tf.config.experimental.reset_memory_stats(device)
    except (ValueError, RuntimeError, AttributeError):
        pass


def peak_bytes(tf, device: str) -> int | None:
    """Peak bytes of TensorFlow's allocator on the device since the reset (None where it is not tracked)."""
    try:
        peak = tf.config.experimental.get_memory_info(device)["peak"]
    except (ValueError, RuntimeError, AttributeError):
        return None
    return int(peak) if peak else None


def out_of_memory(tf, error: Exception) -> bool:
    """True when a TensorFlow error means the device ran out of memory (the cell is `oom`, larger batches skipped)."""
    if isinstance(error, tf.errors.ResourceExhaustedError):
        return True
    text = getattr(error, "message", None) or str(error)
    return isinstance(error, tf.errors.InternalError) and any(t in text for t in _OUT_OF_MEMORY_TEXTS)
