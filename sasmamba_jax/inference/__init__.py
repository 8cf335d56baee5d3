"""Lifting your own 2D keypoints to 3D: readers, tracks, the lifter, the outputs.

  from sasmamba_jax import inference
  lifter = inference.Lifter.load("runs/h36m_sasmamba")   # run dir, export, official
  result = lifter.lift(keypoints_h36m_px, image_size=(1920, 1080))

``experiments.lift`` is the command-line front end (README there and here).
"""

from sasmamba_jax.inference.formats import FORMATS
from sasmamba_jax.inference.formats import Detections
from sasmamba_jax.inference.formats import KeypointFileError
from sasmamba_jax.inference.formats import Person
from sasmamba_jax.inference.formats import detect_format
from sasmamba_jax.inference.formats import read_keypoints
from sasmamba_jax.inference.lifter import LiftResult
from sasmamba_jax.inference.lifter import Lifter
from sasmamba_jax.inference.run import LiftError
from sasmamba_jax.inference.run import LiftOptions
from sasmamba_jax.inference.run import RENDERS
from sasmamba_jax.inference.run import lift_detections
from sasmamba_jax.inference.run import prepare_output
from sasmamba_jax.inference.tracks import Track
from sasmamba_jax.inference.tracks import fill_missing
from sasmamba_jax.inference.tracks import link_tracks
from sasmamba_jax.inference.tracks import prepare_track

__all__ = [
    "Detections", "FORMATS", "KeypointFileError", "LiftError", "LiftOptions",
    "LiftResult", "Lifter", "Person", "RENDERS", "Track", "detect_format", "fill_missing",
    "lift_detections", "link_tracks", "prepare_output", "prepare_track",
    "read_keypoints",
]
