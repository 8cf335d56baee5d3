"""Ahead-of-time compiles for GPUs and TPUs this machine does not have.

``compile_train_step`` / ``compile_predict``: a run's real steps compiled for a
compile-only H100 or TPU v5e (``targets``); ``memory.plan``: the largest batch
that fits; ``kernels``: the Pallas scan's Triton kernels and their registers.
Needs the compiler plugins (``python -m sasmamba_jax.aot.requirements``). See
README.md here.
"""

from sasmamba_jax.aot.compile import Report
from sasmamba_jax.aot.compile import compile_predict
from sasmamba_jax.aot.compile import compile_train_step
from sasmamba_jax.aot.memory import Plan
from sasmamba_jax.aot.memory import plan
from sasmamba_jax.aot.targets import TARGETS

__all__ = ["Report", "compile_predict", "compile_train_step", "Plan", "plan", "TARGETS"]
