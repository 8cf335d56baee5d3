"""Joint layouts: names, kinematic parents, left/right flip pairs, and converters.

One ``Skeleton`` per layout a dataset or model speaks (H36M, MPI-INF-3DHP, COCO,
PoseTrack, Sub-JHMDB): every flip permutation, upper-body list and joint mapping of
the package comes from here. A leaf module: datasets, models, tasks and evaluation
all use it, it imports none of them. Arrays are channels-last, ``(..., J, C)``;
flipping negates channel 0 (x) and swaps left/right joints, and works on NumPy and
JAX arrays alike.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax.numpy as jnp
import numpy as np


@dataclasses.dataclass(frozen=True)
class Skeleton:
  """A joint layout.

  Attributes:
    name: registry name ("h36m", "mpi_inf_3dhp", "coco").
    joint_names: one name per joint, in array order.
    parents: kinematic parent of each joint, -1 for the root.
    left: joints on the subject's left side, paired index by index with ``right``.
    right: the mirrored joints of ``left``.
    root: index of the root joint (pelvis where the layout has one).
    upper_body: the joints of the upper body (the half-body augmentation of
      top-down 2D training picks the upper or the lower part); () where unused.
  """

  name: str
  joint_names: tuple[str, ...]
  parents: tuple[int, ...]
  left: tuple[int, ...]
  right: tuple[int, ...]
  root: int
  upper_body: tuple[int, ...] = ()

  def __post_init__(self):
    j = len(self.joint_names)
    if len(self.parents) != j:
      raise ValueError(f"{self.name}: {len(self.parents)} parents for {j} joints")
    if len(self.left) != len(self.right):
      raise ValueError(f"{self.name}: left and right flip lists differ in length")
    used = list(self.left) + list(self.right)
    if len(set(used)) != len(used) or not all(0 <= i < j for i in used):
      raise ValueError(f"{self.name}: flip pairs must be distinct joints in [0, {j})")
    if not all(0 <= i < j for i in self.upper_body):
      raise ValueError(f"{self.name}: upper_body joints must be in [0, {j})")

  @property
  def num_joints(self) -> int:
    return len(self.joint_names)

  @property
  def flip_permutation(self) -> np.ndarray:
    """(J,) int array: ``flipped[..., j, :] = poses[..., perm[j], :]``."""
    perm = np.arange(self.num_joints)
    perm[list(self.left)] = self.right
    perm[list(self.right)] = self.left
    return perm

  @property
  def flip_pairs(self) -> tuple[tuple[int, int], ...]:
    """((left, right), ...): the mirrored joint pairs."""
    return tuple(zip(self.left, self.right))

  def index(self, joint_name: str) -> int:
    try:
      return self.joint_names.index(joint_name)
    except ValueError:
      raise KeyError(f"{self.name} has no joint {joint_name!r}; joints: "
                     f"{', '.join(self.joint_names)}") from None


H36M = Skeleton(
    name="h36m",
    joint_names=("pelvis", "right_hip", "right_knee", "right_ankle", "left_hip",
                 "left_knee", "left_ankle", "spine", "thorax", "nose", "head",
                 "left_shoulder", "left_elbow", "left_wrist", "right_shoulder",
                 "right_elbow", "right_wrist"),
    parents=(-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 9, 8, 11, 12, 8, 14, 15),
    left=(4, 5, 6, 11, 12, 13),
    right=(1, 2, 3, 14, 15, 16),
    root=0,
)

# P-STMO / MotionAGFormer order of the 17 joints taken from MPI-INF-3DHP's 28.
MPI_INF_3DHP = Skeleton(
    name="mpi_inf_3dhp",
    joint_names=("head_top", "neck", "right_shoulder", "right_elbow", "right_wrist",
                 "left_shoulder", "left_elbow", "left_wrist", "right_hip",
                 "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle",
                 "pelvis", "spine", "head"),
    parents=(16, 15, 1, 2, 3, 1, 5, 6, 14, 8, 9, 14, 11, 12, -1, 14, 1),
    left=(5, 6, 7, 11, 12, 13),
    right=(2, 3, 4, 8, 9, 10),
    root=14,
)

COCO = Skeleton(
    name="coco",
    joint_names=("nose", "left_eye", "right_eye", "left_ear", "right_ear",
                 "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
                 "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee",
                 "right_knee", "left_ankle", "right_ankle"),
    # COCO has no pelvis: the tree hangs from the nose for drawing purposes only.
    parents=(-1, 0, 0, 1, 2, 0, 0, 5, 6, 7, 8, 5, 6, 11, 12, 13, 14),
    left=(1, 3, 5, 7, 9, 11, 13, 15),
    right=(2, 4, 6, 8, 10, 12, 14, 16),
    root=0,
    upper_body=tuple(range(11)),   # nose .. wrists (mmpose's COCO upper_body_ids)
)

# PoseTrack18's 17 slots: COCO's order, with its eyes' slots holding head_bottom (the
# upper neck) and head_top. PoseTrack17's poseval joints are read into these slots.
POSETRACK = Skeleton(
    name="posetrack",
    joint_names=("nose", "head_bottom", "head_top", "left_ear", "right_ear",
                 "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
                 "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee",
                 "right_knee", "left_ankle", "right_ankle"),
    # Hangs from the nose, as COCO; the shoulders from head_bottom (the neck).
    parents=(-1, 0, 1, 0, 0, 1, 1, 5, 6, 7, 8, 5, 6, 11, 12, 13, 14),
    left=(3, 5, 7, 9, 11, 13, 15),
    right=(4, 6, 8, 10, 12, 14, 16),
    root=0,
    upper_body=tuple(range(11)),   # nose .. wrists
)

# JHMDB's 15 puppet joints (``joint_positions.mat``'s order).
SUB_JHMDB = Skeleton(
    name="sub_jhmdb",
    joint_names=("neck", "belly", "head", "right_shoulder", "left_shoulder",
                 "right_hip", "left_hip", "right_elbow", "left_elbow", "right_knee",
                 "left_knee", "right_wrist", "left_wrist", "right_ankle",
                 "left_ankle"),
    parents=(1, -1, 0, 0, 0, 1, 1, 3, 4, 5, 6, 7, 8, 9, 10),
    left=(4, 6, 8, 10, 12, 14),
    right=(3, 5, 7, 9, 11, 13),
    root=1,
    upper_body=(0, 1, 2, 3, 4, 7, 8, 11, 12),
)

_REGISTRY = {s.name: s for s in (H36M, MPI_INF_3DHP, COCO, POSETRACK, SUB_JHMDB)}
NAMES: tuple[str, ...] = tuple(sorted(_REGISTRY))


def get(name: str) -> Skeleton:
  """Returns the layout registered under ``name``."""
  try:
    return _REGISTRY[name]
  except KeyError:
    raise KeyError(f"unknown skeleton {name!r}; known: {', '.join(sorted(_REGISTRY))}"
                   ) from None


def _check_joints(poses: Any, skeleton: Skeleton, what: str) -> None:
  shape = getattr(poses, "shape", None)
  if shape is None or len(shape) < 2 or shape[-2] != skeleton.num_joints:
    raise ValueError(
        f"{what}: expected an array of shape (..., {skeleton.num_joints}, C) in the "
        f"{skeleton.name} layout, got shape {shape}")


def flip_poses(poses: Any, skeleton: Skeleton = H36M) -> Any:
  """Mirrors poses left-right: negates x (channel 0) and swaps left/right joints.

  Args:
    poses: (..., J, C) NumPy or JAX array with x in channel 0, in normalised or
      root-relative coordinates where the mirror axis is x = 0.
    skeleton: joint layout of ``poses``.

  Returns:
    An array of the same type and shape. Flipping twice gives back ``poses``.
  """
  _check_joints(poses, skeleton, "flip_poses")
  flipped = poses[..., skeleton.flip_permutation, :]
  sign = np.ones((poses.shape[-1],), dtype=np.float32)
  sign[0] = -1.0
  return flipped * sign.astype(flipped.dtype)


# H36M joint -> source joint in the 3DHP-17 layout (H36M "nose" is 3DHP "head",
# H36M "head" is 3DHP "head_top").
_MPI_TO_H36M = np.array([14, 8, 9, 10, 11, 12, 13, 15, 1, 16, 0, 5, 6, 7, 2, 3, 4])


def mpi_inf_3dhp_to_h36m(poses: Any) -> Any:
  """(..., 17, C) MPI-INF-3DHP-17 order -> (..., 17, C) H36M-17 order."""
  _check_joints(poses, MPI_INF_3DHP, "mpi_inf_3dhp_to_h36m")
  return poses[..., _MPI_TO_H36M, :]


def h36m_to_mpi_inf_3dhp(poses: Any) -> Any:
  """Inverse of ``mpi_inf_3dhp_to_h36m``."""
  _check_joints(poses, H36M, "h36m_to_mpi_inf_3dhp")
  return poses[..., np.argsort(_MPI_TO_H36M), :]


# Detector layouts that ``to_h36m`` converts, with their joint counts.
# OpenPose orders (BODY_25, COCO-18) are first reordered to COCO-17.
_BODY25_TO_COCO = (0, 16, 15, 18, 17, 5, 2, 6, 3, 7, 4, 12, 9, 13, 10, 14, 11)
_COCO18_TO_COCO = (0, 15, 14, 17, 16, 5, 2, 6, 3, 7, 4, 11, 8, 12, 9, 13, 10)
# Each H36M joint is the mean of these source joints (all channels, confidence too),
# exactly MotionBERT's ``coco2h36m`` / ``halpe2h36m`` (lib/data/dataset_wild.py), the
# conversions the official checkpoints' in-the-wild inference used.
_COCO_SOURCES = ((11, 12), (12,), (14,), (16,), (11,), (13,), (15,), (5, 6, 11, 12),
                 (5, 6), (0,), (1, 2), (5,), (7,), (9,), (6,), (8,), (10,))
_HALPE_SOURCES = ((19,), (12,), (14,), (16,), (11,), (13,), (15,), (18, 19), (18,),
                  (0,), (17,), (5,), (7,), (9,), (6,), (8,), (10,))
SOURCE_LAYOUTS: dict[str, int] = {
    "h36m": 17,             # already H36M order
    "coco": 17,             # COCO-17 (detectors, mmpose, AlphaPose's default)
    "coco_wholebody": 133,  # COCO-WholeBody: body = its first 17 (COCO order)
    "halpe26": 26,          # AlphaPose Halpe-26 (head top, neck and hip included)
    "halpe136": 136,        # AlphaPose Halpe-136: body = its first 26 (Halpe-26)
    "body25": 25,           # OpenPose BODY_25
    "coco18": 18,           # OpenPose COCO-18
}


def to_h36m(keypoints: Any, source: str) -> np.ndarray:
  """Converts detector keypoints of a ``SOURCE_LAYOUTS`` layout to H36M-17.

  Each H36M joint is a source joint or the mean of several (pelvis = mid-hips,
  thorax = mid-shoulders, spine = mean of hips and shoulders, head = mid-eyes for
  COCO; Halpe's own head, neck and hip), the mapping of MotionBERT that the
  official checkpoints' in-the-wild demos use. OpenPose layouts are first reordered
  to COCO-17. NaN marks a missing source joint and propagates to every joint built
  from it.

  Args:
    keypoints: (..., J_source, C) with C = 2 (x, y) or 3 (x, y, confidence).
    source: a key of ``SOURCE_LAYOUTS``.

  Returns:
    (..., 17, C) float32 in H36M order (a built joint's confidence is the mean of
    its sources').
  """
  if source not in SOURCE_LAYOUTS:
    raise ValueError(f"to_h36m: unknown source layout {source!r}; known: "
                     f"{', '.join(SOURCE_LAYOUTS)}")
  k = np.asarray(keypoints, dtype=np.float32)
  joints = SOURCE_LAYOUTS[source]
  if k.ndim < 2 or k.shape[-2] != joints or k.shape[-1] not in (2, 3):
    raise ValueError(f"to_h36m: expected (..., {joints}, 2) or (..., {joints}, 3) "
                     f"keypoints for the {source} layout, got shape {k.shape}")
  if source == "h36m":
    return k.copy()
  if source == "body25":
    k, source = k[..., _BODY25_TO_COCO, :], "coco"
  elif source == "coco18":
    k, source = k[..., _COCO18_TO_COCO, :], "coco"
  elif source == "coco_wholebody":
    k, source = k[..., :17, :], "coco"
  elif source == "halpe136":
    k, source = k[..., :26, :], "halpe26"
  sources = _COCO_SOURCES if source == "coco" else _HALPE_SOURCES
  return np.stack([k[..., list(s), :].mean(axis=-2) for s in sources], axis=-2)


def coco_to_h36m(keypoints: np.ndarray) -> np.ndarray:
  """COCO-17 -> H36M-17: ``to_h36m(keypoints, "coco")`` with a COCO shape check."""
  keypoints = np.asarray(keypoints, dtype=np.float32)
  _check_joints(keypoints, COCO, "coco_to_h36m")
  if keypoints.shape[-1] not in (2, 3):
    raise ValueError("coco_to_h36m: expected (..., 17, 2) or (..., 17, 3) keypoints, "
                     f"got shape {keypoints.shape}")
  return to_h36m(keypoints, "coco")



def coco_to_posetrack(keypoints: Any) -> Any:
  """(..., 17, 3) COCO keypoints (x, y, score) -> PoseTrack's 17 slots.

  The slots agree except 1 and 2: COCO's left / right eye, PoseTrack's head_bottom
  (upper neck) and head_top. A COCO model has neither, so they are estimated (our
  choice: the GLSMamba paper's per-frame baseline needs some mapping and names
  none): head_bottom 40 % of the way from the nose to the shoulders' midpoint
  (about the chin), head_top as far above the eyes' midpoint as head_bottom is
  below it (the eyes sit half way up the head); each scored by the mean score of
  the points it comes from. The other slots are the model's own, so only the Head
  group's AP rests on this estimate. NumPy in, NumPy out; JAX arrays (traced too)
  give JAX arrays.
  """
  _check_joints(keypoints, COCO, "coco_to_posetrack")
  if keypoints.shape[-1] != 3:
    raise ValueError("coco_to_posetrack: expected (..., 17, 3) keypoints (x, y, "
                     f"score), got shape {keypoints.shape}")
  xp = np if isinstance(keypoints, np.ndarray) else jnp
  k = xp.asarray(keypoints)
  nose, neck = k[..., 0, :], k[..., 5:7, :].mean(axis=-2)
  eye_mid = k[..., 1:3, :].mean(axis=-2)
  bottom_xy = nose[..., :2] + 0.4 * (neck[..., :2] - nose[..., :2])
  bottom_score = (nose[..., 2:] + 2 * neck[..., 2:]) / 3
  top_xy = 2 * eye_mid[..., :2] - bottom_xy
  top_score = (2 * eye_mid[..., 2:] + bottom_score) / 3
  head = xp.stack([xp.concatenate([bottom_xy, bottom_score], axis=-1),
                   xp.concatenate([top_xy, top_score], axis=-1)], axis=-2)
  return xp.concatenate([k[..., :1, :], head.astype(k.dtype), k[..., 3:, :]], axis=-2)


# COCO-17 joint -> the H36M-17 joint it is taken from (eyes and ears: the head).
_H36M_FOR_COCO = (9, 10, 10, 10, 10, 11, 14, 12, 15, 13, 16, 4, 1, 5, 2, 6, 3)


def h36m_to_coco(keypoints: Any) -> np.ndarray:
  """H36M-17 -> COCO-17, what a COCO detector would report for the same person.

  Shoulders, elbows, wrists, hips, knees, ankles and the nose are copied. H36M has
  no eyes nor ears: all four are put on its head joint, so that ``coco_to_h36m``
  (head = mid-eyes) gives the head back exactly; the joints it builds (pelvis,
  spine, thorax) come back as the mid-points of hips and shoulders. Used to write
  COCO-format files from H36M-order poses (demos, tests).

  Args:
    keypoints: (..., 17, C) in H36M order, any C (x, y[, confidence]).

  Returns:
    (..., 17, C) float32 in COCO order.
  """
  keypoints = np.asarray(keypoints, dtype=np.float32)
  _check_joints(keypoints, H36M, "h36m_to_coco")
  return keypoints[..., list(_H36M_FOR_COCO), :].copy()


# Joint gathers of the direction-0 scan of PoseMamba and SasMamba (their official
# ``csms6s.py``; docs/reference.md): direction 0 scans ``x + sum_g x[..., g, :]`` over the (T, J) grid, so each
# gather is a (J,) index array with ``gathered[..., j, :] = x[..., g[j], :]``.

# PoseMamba's "local limb" gather, as hard-coded for 17 H36M joints by the official code.
POSEMAMBA_LIMB_GATHER_H36M: tuple[int, ...] = (
    0, 0, 1, 2, 3, 0, 4, 5, 6, 8, 11, 12, 13, 8, 14, 15, 16)

# SasMamba's stride gathers (strides 2 and 3), as hard-coded for 17 joints officially.
SASMAMBA_STRIDES: tuple[int, ...] = (2, 3)


def stride_gather(num_joints: int, stride: int) -> tuple[int, ...]:
  """Joints sampled every ``stride``; each joint takes the most recent sampled one.

  ``g[j] = stride * (j // stride)``; for 17 joints and strides 2 and 3 this is exactly
  the official SasMamba pair of index lists. It depends on array order only, so it
  applies unchanged to any layout (the official MPI-INF-3DHP runs use it that way).
  """
  if num_joints < 1 or stride < 1:
    raise ValueError(f"stride_gather: need num_joints >= 1 and stride >= 1, got "
                     f"{num_joints} and {stride}")
  return tuple(stride * (j // stride) for j in range(num_joints))


def sasmamba_gathers(num_joints: int = 17,
                     strides: tuple[int, ...] = SASMAMBA_STRIDES
                     ) -> tuple[tuple[int, ...], ...]:
  """The direction-0 gathers of SasMamba for ``num_joints`` joints."""
  return tuple(stride_gather(num_joints, s) for s in strides)


def posemamba_limb_gather(skeleton: Skeleton = H36M) -> tuple[int, ...]:
  """PoseMamba's local-limb gather expressed in ``skeleton``'s joint order.

  The official list is defined on H36M joint names; for MPI-INF-3DHP-17 the same
  name-to-name pairs are re-indexed into that layout. (The official code applies the
  H36M index list unchanged to whatever 17 joints it gets: to reproduce a checkpoint
  trained that way on MPI-INF-3DHP, pass ``POSEMAMBA_LIMB_GATHER_H36M`` instead.)
  COCO lacks pelvis, spine and thorax, so it has no such gather.
  """
  if skeleton.name == H36M.name:
    return POSEMAMBA_LIMB_GATHER_H36M
  if skeleton.name == MPI_INF_3DHP.name:
    h36m_of_mpi = np.argsort(_MPI_TO_H36M)  # MPI joint -> H36M joint of the same name.
    return tuple(int(_MPI_TO_H36M[POSEMAMBA_LIMB_GATHER_H36M[h]]) for h in h36m_of_mpi)
  raise ValueError(f"posemamba_limb_gather: no limb gather is defined for the "
                   f"{skeleton.name} layout; pass joint_gathers explicitly")
