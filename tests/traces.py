"""The committed profiler traces (tests/fixtures/profile/) and what is known about them.

Not a test module: test_profile_parse.py, test_profile_trace.py and test_profile_run.py import it.
"""
from __future__ import annotations

from pathlib import Path

PROFILE_FIXTURES = Path(__file__).parent / "fixtures" / "profile"
PER_CALL = PROFILE_FIXTURES / "per-call-b32-all-ops.xplane.pb"  # 784-100-30-10, batch 32, 10 steps, fresh executor
IN_GRAPH = PROFILE_FIXTURES / "in-graph-b32-all-ops.xplane.pb"
N_LAYERS = 3

# What the 784-100-30-10 step's matmuls are, from its graph's transpose attributes (tests/test_profile_trace.py
# checks this table against the live graph): fused forward kernels are named after their last op.
ROLES = {"Relu": "matmul_fwd", "Relu_1": "matmul_fwd", "add_2": "matmul_fwd",
         "gradient_tape/MatMul/MatMul": "matmul_wgrad",
         "gradient_tape/MatMul_1/MatMul": "matmul_igrad", "gradient_tape/MatMul_1/MatMul_1": "matmul_wgrad",
         "gradient_tape/MatMul_2/MatMul": "matmul_igrad", "gradient_tape/MatMul_2/MatMul_1": "matmul_wgrad"}
