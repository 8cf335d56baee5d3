"""Benchmarks: the selective scan, the models, the train step, 2D pose, data, lifting.

``common`` holds the shared helpers (timing, memory, environment, tables, JSON
results); ``scan``, ``models``, ``train_step``, ``vitpose``, ``topdown``,
``video_pipeline`` and ``lifting`` are run by ``python -m experiments.benchmark_scan |
benchmark_models | benchmark_train | benchmark_vitpose | benchmark_topdown |
benchmark_video_pipeline | benchmark_lift`` (see README.md here).
"""

from sasmamba_jax.benchmarking.common import RESULTS_DIR
from sasmamba_jax.benchmarking.common import compiled_memory_bytes
from sasmamba_jax.benchmarking.common import device_peak_bytes
from sasmamba_jax.benchmarking.common import environment
from sasmamba_jax.benchmarking.common import format_table
from sasmamba_jax.benchmarking.common import random_batch
from sasmamba_jax.benchmarking.common import report
from sasmamba_jax.benchmarking.common import save_results
from sasmamba_jax.benchmarking.common import time_compiled

__all__ = ["RESULTS_DIR", "compiled_memory_bytes", "device_peak_bytes", "environment",
           "format_table", "random_batch", "report", "save_results", "time_compiled"]
