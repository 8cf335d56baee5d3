"""Joint layouts: names, kinematic parents, left/right flip pairs, and converters.

A leaf module: datasets, models and evaluation all use it, it imports none of them.
Arrays are channels-last, ``(..., J, C)``; flipping negates channel 0 (x) and swaps
left/right joints, and works on NumPy and JAX arrays alike.
"""

from __future__ import annotations

import dataclasses
from typing import Any

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
  """

  name: str
  joint_names: tuple[str, ...]
  parents: tuple[int, ...]
  left: tuple[int, ...]
  right: tuple[int, ...]
  root: int

  def __post_init__(self):
    j = len(self.joint_names)
    if len(self.parents) != j:
      raise ValueError(f"{self.name}: {len(self.parents)} parents for {j} joints")
    if len(self.left) != len(self.right):
      raise ValueError(f"{self.name}: left and right flip lists differ in length")
    used = list(self.left) + list(self.right)
    if len(set(used)) != len(used) or not all(0 <= i < j for i in used):
      raise ValueError(f"{self.name}: flip pairs must be distinct joints in [0, {j})")

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
)

_REGISTRY = {s.name: s for s in (H36M, MPI_INF_3DHP, COCO)}
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


def coco_to_h36m(keypoints: np.ndarray) -> np.ndarray:
  """Converts COCO-17 detections to the H36M-17 layout.

  Joints H36M has and COCO lacks are built from neighbours, as common 2D-to-3D
  pipelines do: pelvis = mid-hips, thorax = mid-shoulders, spine = mid(pelvis,
  thorax), nose = nose, head = mid-eyes extrapolated away from the nose by the same
  distance (a head-top estimate).

  Args:
    keypoints: (..., 17, 2) x, y or (..., 17, 3) x, y, confidence in COCO order.

  Returns:
    (..., 17, C) float32 in H36M order. A built joint's confidence is the lowest
    confidence of the joints it is built from.
  """
  keypoints = np.asarray(keypoints, dtype=np.float32)
  _check_joints(keypoints, COCO, "coco_to_h36m")
  if keypoints.shape[-1] not in (2, 3):
    raise ValueError("coco_to_h36m: expected (..., 17, 2) or (..., 17, 3) keypoints, "
                     f"got shape {keypoints.shape}")
  k = keypoints
  out = np.zeros_like(k)

  def built(xy, *sources):
    if k.shape[-1] == 3:
      conf = np.min(np.stack([k[..., s, 2] for s in sources], -1), -1)
      return np.concatenate([xy, conf[..., None]], -1)
    return xy

  xy = k[..., :2]
  pelvis = (xy[..., 11, :] + xy[..., 12, :]) / 2
  thorax = (xy[..., 5, :] + xy[..., 6, :]) / 2
  eyes = (xy[..., 1, :] + xy[..., 2, :]) / 2
  out[..., 0, :] = built(pelvis, 11, 12)
  out[..., 7, :] = built((pelvis + thorax) / 2, 5, 6, 11, 12)
  out[..., 8, :] = built(thorax, 5, 6)
  out[..., 10, :] = built(2 * eyes - xy[..., 0, :], 0, 1, 2)
  direct = {1: 12, 2: 14, 3: 16, 4: 11, 5: 13, 6: 15, 9: 0,
            11: 5, 12: 7, 13: 9, 14: 6, 15: 8, 16: 10}
  for h36m_joint, coco_joint in direct.items():
    out[..., h36m_joint, :] = k[..., coco_joint, :]
  return out


# Joint gathers of the direction-0 scan of PoseMamba and SasMamba (REFERENCE sections
# 2 and 3): direction 0 scans ``x + sum_g x[..., g, :]`` over the (T, J) grid, so each
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
