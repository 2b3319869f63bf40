"""Timing one cell: runners (one per implementation), the stop rule, the timed blocks, the matmul ceiling, parity."""
