"""simplenn-bench: a from-scratch TensorFlow MLP and a benchmark of its training step on CPU and GPU."""

__version__ = "0.1.0"
