"""Evaluation protocols (Human3.6M, MPI-INF-3DHP, COCO keypoints, PoseTrack mAP,
Sub-JHMDB PCK), flip test and windowed inference.

Each protocol is a streaming evaluator (``base.Evaluator``: ``update(predictions,
batch)`` per batch, ``result()`` at the end, ``state()`` / ``merge()`` across hosts)
that computes the published numbers exactly as the official code does; the
``evaluate_*`` functions run one over arrays held in memory. The metrics themselves
live in ``sasmamba_jax.metrics``. See README.md in this folder.
"""

from sasmamba_jax.evaluation._common import denormalize
from sasmamba_jax.evaluation.base import Evaluator
from sasmamba_jax.evaluation.coco import COCOKeypointEvaluator
from sasmamba_jax.evaluation.coco import format_coco_table
from sasmamba_jax.evaluation.flip import flip_average
from sasmamba_jax.evaluation.flip import flip_test
from sasmamba_jax.evaluation.h36m import EXCLUDED_SEQUENCES
from sasmamba_jax.evaluation.h36m import H36MEvaluator
from sasmamba_jax.evaluation.h36m import evaluate_h36m
from sasmamba_jax.evaluation.mpi_inf_3dhp import MPIInf3DHPEvaluator
from sasmamba_jax.evaluation.mpi_inf_3dhp import evaluate_mpi_inf_3dhp
from sasmamba_jax.evaluation.posetrack import PoseTrackEvaluator
from sasmamba_jax.evaluation.posetrack import evaluate_posetrack
from sasmamba_jax.evaluation.posetrack import format_posetrack_comparison
from sasmamba_jax.evaluation.posetrack import format_posetrack_table
from sasmamba_jax.evaluation.posetrack import write_posetrack_predictions
from sasmamba_jax.evaluation.report import format_h36m_table
from sasmamba_jax.evaluation.report import format_mpi_inf_3dhp_table
from sasmamba_jax.evaluation.sub_jhmdb import SubJHMDBEvaluator
from sasmamba_jax.evaluation.sub_jhmdb import average_splits as average_sub_jhmdb_splits
from sasmamba_jax.evaluation.sub_jhmdb import evaluate_sub_jhmdb
from sasmamba_jax.evaluation.sub_jhmdb import format_sub_jhmdb_table
from sasmamba_jax.evaluation.windows import centre_frame_predict
from sasmamba_jax.evaluation.windows import centre_frame_windows
from sasmamba_jax.evaluation.windows import sliding_window_predict

__all__ = [
    "COCOKeypointEvaluator",
    "EXCLUDED_SEQUENCES",
    "Evaluator",
    "H36MEvaluator",
    "MPIInf3DHPEvaluator",
    "PoseTrackEvaluator",
    "SubJHMDBEvaluator",
    "average_sub_jhmdb_splits",
    "centre_frame_predict",
    "centre_frame_windows",
    "denormalize",
    "evaluate_h36m",
    "evaluate_mpi_inf_3dhp",
    "evaluate_posetrack",
    "evaluate_sub_jhmdb",
    "flip_average",
    "flip_test",
    "format_coco_table",
    "format_h36m_table",
    "format_mpi_inf_3dhp_table",
    "format_posetrack_comparison",
    "format_posetrack_table",
    "format_sub_jhmdb_table",
    "sliding_window_predict",
    "write_posetrack_predictions",
]
