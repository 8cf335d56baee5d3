"""Evaluation protocols (Human3.6M, MPI-INF-3DHP), flip test and windowed inference.

Protocol functions take normalised model predictions aligned with the test examples
and compute the published numbers exactly as the official code does; the metrics
themselves live in ``sasmamba_jax.metrics``.
"""

from sasmamba_jax.evaluation._common import denormalize
from sasmamba_jax.evaluation.flip import flip_average
from sasmamba_jax.evaluation.flip import flip_test
from sasmamba_jax.evaluation.h36m import EXCLUDED_SEQUENCES
from sasmamba_jax.evaluation.h36m import evaluate_h36m
from sasmamba_jax.evaluation.mpi_inf_3dhp import evaluate_mpi_inf_3dhp
from sasmamba_jax.evaluation.report import format_h36m_table
from sasmamba_jax.evaluation.report import format_mpi_inf_3dhp_table
from sasmamba_jax.evaluation.windows import centre_frame_predict
from sasmamba_jax.evaluation.windows import centre_frame_windows
from sasmamba_jax.evaluation.windows import sliding_window_predict

__all__ = [
    "EXCLUDED_SEQUENCES",
    "centre_frame_predict",
    "centre_frame_windows",
    "denormalize",
    "evaluate_h36m",
    "evaluate_mpi_inf_3dhp",
    "flip_average",
    "flip_test",
    "format_h36m_table",
    "format_mpi_inf_3dhp_table",
    "sliding_window_predict",
]
