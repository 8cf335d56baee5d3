"""The ``task`` config section of 3D lifting: inputs, targets, losses, protocol."""

from __future__ import annotations

import ml_collections

from sasmamba_jax import skeletons
from sasmamba_jax.tasks.lifting_3d.losses import TERMS as LOSS_TERMS

PROTOCOLS = ("h36m", "mpi_inf_3dhp")


def default_config() -> ml_collections.ConfigDict:
  """Defaults: the official SasMamba Human3.6M recipe."""
  c = ml_collections.ConfigDict()
  c.name = "lifting_3d"
  c.skeleton = "h36m"             # joint layout of the data (flips, joint count)
  c.use_confidence = False        # feed (x, y, conf) instead of (x, y)
  c.constant_confidence = False   # feed conf = 1 (the MPI-INF-3DHP recipe)
  c.root_relative = True          # targets relative to the root joint
  c.flip_augment = True           # random left/right mirror of training clips
  c.flip_test = True              # average with the mirrored clip's prediction
  c.protocol = "h36m"             # evaluation protocol: h36m | mpi_inf_3dhp
  c.loss = ml_collections.ConfigDict()
  c.loss.mpjpe = 1.0
  c.loss.n_mpjpe = 0.5
  c.loss.velocity = 20.0
  c.loss.temporal_consistency = 0.0   # PoseMamba's L_diff (H36M joint weights)
  c.loss.reprojection_2d = 0.0
  return c


def validate(cfg: ml_collections.ConfigDict) -> list[str]:
  """Problems with a lifting ``task`` section, as "key = value: problem" strings."""
  errors = []
  if cfg.skeleton not in skeletons.NAMES:
    errors.append(f"task.skeleton = {cfg.skeleton!r}: must be one of "
                  f"{skeletons.NAMES}")
  if cfg.protocol not in PROTOCOLS:
    errors.append(f"task.protocol = {cfg.protocol!r}: must be one of {PROTOCOLS}")
  if cfg.use_confidence and cfg.constant_confidence:
    errors.append("task.use_confidence = True: use_confidence and "
                  "constant_confidence exclude each other")
  for term in LOSS_TERMS:
    if cfg.loss[term] < 0:
      errors.append(f"task.loss.{term} = {cfg.loss[term]}: must be >= 0")
  if sum(cfg.loss[t] for t in LOSS_TERMS) <= 0:
    errors.append("task.loss.mpjpe = {}: at least one loss weight must be "
                  "positive".format(cfg.loss.mpjpe))
  if cfg.loss.temporal_consistency and cfg.skeleton != "h36m":
    errors.append(f"task.loss.temporal_consistency = {cfg.loss.temporal_consistency}:"
                  f" it uses the H36M joint weights; set it to 0 for the "
                  f"{cfg.skeleton} layout")
  return errors
