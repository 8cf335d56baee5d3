"""Top-down clip transforms for the video-pose datasets (grain, NumPy, Pillow).

One example (a person box in a labelled frame and its T frames, see
``posetrack.posetrack_common``) becomes a model input: the T JPEGs are decoded with
Pillow (in the grain worker processes when the pipeline has workers), the same UDP
affine crop of the person box (``imaging``) is applied to all T frames, and the
labelled (centre) frame's heatmap targets with per-joint weights are drawn by the
``codecs.HeatmapCodec`` (UDP Gaussians of sigma 2 for ViTPose). Training adds the
video-pose literature's augmentations (DCPose / FAMI-Pose / HRNet style), drawn once per example so that
every frame of the clip gets the same warp:

* random scale: ``s * clip(1 + 0.35 N(0, 1), 0.65, 1.35)``;
* random rotation with probability 0.6: ``clip(45 N(0, 1), -45, 45)`` degrees;
* horizontal flip with probability 0.5 (the skeleton's left / right pairs);
* half-body with probability 0.3 when more than 8 joints are visible: the box of
  the upper or the lower body's visible joints, grown 1.5 times.

The crop is sampled with Pillow's bilinear affine transform by default
(``sampler="pillow"``, ``crop_pillow``: about 7 times faster than NumPy, equal
to within one grey level inside the image) or with ``imaging.crop_image``
(``sampler="numpy"``).

The joint layout (flip pairs, upper body) is a ``skeletons.Skeleton``: PoseTrack's
by default, Sub-JHMDB's 15 joints or COCO's for those datasets.

Output features: ``images`` (T, h, w, 3) float32 ImageNet-normalised ((1, h, w, 3)
with ``centre_only``: per-frame models read the labelled frame alone), ``heatmaps``
(the codec's heatmap size, K) float32, ``target_weight`` (K,) float32, ``center`` / ``scale``
(2,) float32 (the crop, for mapping predictions back), ``rotation`` float32 and
``flipped`` bool, plus the features named in ``keep``.
"""

from __future__ import annotations

import io
import pathlib
from typing import Any, Mapping, Sequence

import grain
import numpy as np

from sasmamba_jax import imaging
from sasmamba_jax import skeletons
from sasmamba_jax.codecs import HeatmapCodec

#: Features kept by default (fixed shapes: they batch).
DEFAULT_KEEP = ("image_id", "bbox", "box_score", "keypoints", "head_box", "track_id",
                "image_size", "video_id", "frame_index")


def decode_frames(element: Mapping[str, Any], image_root: str | None = None, *,
                  centre_only: bool = False) -> np.ndarray:
  """The example's T frames as (T, H, W, 3) uint8, decoded with Pillow.

  Embedded JPEG bytes are used when present; otherwise ``frame_paths`` are read
  below ``image_root`` (datasets built with ``images="paths"``). ``centre_only``
  decodes only the labelled (centre) frame: (1, H, W, 3).
  """
  from PIL import Image  # pylint: disable=g-import-not-at-top
  pairs = list(zip(element["frames"], element["frame_paths"]))
  if centre_only:
    pairs = pairs[len(pairs) // 2:len(pairs) // 2 + 1]
  frames = []
  for data, path in pairs:
    if isinstance(path, bytes):
      path = path.decode("utf-8")
    if not data:
      if image_root is None:
        raise ValueError("the dataset stores frame paths, not images: pass "
                         "image_root (builder.info.metadata['image_root'])")
      data = (pathlib.Path(image_root) / path).read_bytes()
    with Image.open(io.BytesIO(data)) as im:
      frames.append(np.asarray(im.convert("RGB")))
  if any(f.shape != frames[0].shape for f in frames):
    raise ValueError(f"frames of image {element.get('image_id')} differ in size: "
                     f"{[f.shape for f in frames]}")
  return np.stack(frames)


def _half_body(keypoints: np.ndarray, aspect: float, rng: np.random.Generator,
               upper_body: Sequence[int]) -> tuple[np.ndarray, np.ndarray] | None:
  visible = keypoints[:, 2] > 0
  upper = [j for j in range(len(keypoints)) if visible[j] and j in upper_body]
  lower = [j for j in range(len(keypoints)) if visible[j] and j not in upper_body]
  chosen = upper if (rng.random() < 0.5 and len(upper) > 2) else lower
  if len(chosen) < 2:
    chosen = upper if len(upper) >= 2 else None
  if chosen is None:
    return None
  pts = keypoints[chosen, :2].astype(np.float64)
  centre = pts.mean(axis=0)
  lo, hi = pts.min(axis=0), pts.max(axis=0)
  w, h = hi - lo
  if w > aspect * h:
    h = w / aspect
  else:
    w = h * aspect
  scale = np.asarray([w, h]) / imaging.PIXEL_STD * 1.5
  return centre.astype(np.float32), scale.astype(np.float32)


class _TopDownClip:
  """Shared body of ``TopDownClip`` (eval) and ``RandomTopDownClip`` (train)."""

  def __init__(self, codec: HeatmapCodec = HeatmapCodec(), *,
               padding: float = 1.25, image_root: str | None = None,
               keep: Sequence[str] = DEFAULT_KEEP, scale_factor: float = 0.35,
               rotation_factor: float = 45.0, rotation_prob: float = 0.6,
               flip_prob: float = 0.5, half_body_prob: float = 0.3,
               half_body_min_joints: int = 8, sampler: str = "pillow",
               skeleton: skeletons.Skeleton = skeletons.POSETRACK,
               centre_only: bool = False):
    self.centre_only = centre_only
    if sampler not in ("pillow", "numpy"):
      raise ValueError(f"sampler must be 'pillow' or 'numpy', got {sampler!r}")
    self.sampler = sampler
    self.skeleton = skeleton
    self.codec = codec
    self.image_size = codec.input_size
    self.padding, self.image_root = padding, image_root
    self.keep = tuple(keep)
    self.scale_factor, self.rotation_factor = scale_factor, rotation_factor
    self.rotation_prob, self.flip_prob = rotation_prob, flip_prob
    self.half_body_prob, self.half_body_min_joints = (half_body_prob,
                                                      half_body_min_joints)

  def transform(self, element: Mapping[str, Any],
                rng: np.random.Generator | None) -> dict[str, Any]:
    frames = decode_frames(element, self.image_root,
                           centre_only=self.centre_only)   # (T or 1, H, W, 3) uint8
    width = frames.shape[2]
    keypoints = np.asarray(element["keypoints"], np.float32).copy()   # (K, 3)
    aspect = self.image_size[0] / self.image_size[1]
    centre, scale = imaging.box_to_center_scale(
        np.asarray(element["bbox"], np.float32), aspect, self.padding)
    rotation, flipped = 0.0, False
    if rng is not None:
      if (np.sum(keypoints[:, 2] > 0) > self.half_body_min_joints
          and rng.random() < self.half_body_prob):
        half = _half_body(keypoints, aspect, rng, self.skeleton.upper_body)
        if half is not None:
          centre, scale = half
      sf, rf = self.scale_factor, self.rotation_factor
      scale = scale * np.float32(np.clip(rng.normal() * sf + 1, 1 - sf, 1 + sf))
      if rng.random() < self.rotation_prob:
        rotation = float(np.clip(rng.normal() * rf, -rf, rf))
      if rng.random() < self.flip_prob:
        flipped = True
        frames = frames[:, :, ::-1]
        keypoints = imaging.flip_keypoints(keypoints, width,
                                           self.skeleton.flip_permutation)
        keypoints[keypoints[:, 2] <= 0] = 0
        centre = centre.copy()
        centre[0] = width - 1 - centre[0]
    matrix = imaging.warp_matrix(centre, scale, rotation, self.image_size)
    crops = (crop_pillow(frames, matrix, self.image_size) if self.sampler == "pillow"
             else imaging.crop_image(frames, matrix, self.image_size))  # (T, h, w, 3)
    joints = imaging.affine_points(keypoints[:, :2].astype(np.float64),
                                   matrix.astype(np.float64))
    heatmaps, weight = self.codec.encode(joints, np.minimum(keypoints[:, 2], 1.0))
    # "mask" is the eval pipeline's padding flag: it always passes through.
    out = {k: element[k] for k in self.keep + ("mask",) if k in element}
    if "box_score" in out:
      out["box_score"] = np.float32(out["box_score"])
    out.update(images=imaging.normalize_images(crops), heatmaps=heatmaps,
               target_weight=weight, center=np.asarray(centre, np.float32),
               scale=np.asarray(scale, np.float32), rotation=np.float32(rotation),
               flipped=np.bool_(flipped))
    return out


def crop_pillow(frames: np.ndarray, matrix: np.ndarray,
                output_size: Sequence[int]) -> np.ndarray:
  """``imaging.crop_image`` with Pillow's bilinear affine sampler (7x faster).

  The matrix is the same UDP warp; Pillow samples output pixel (u, v) at
  ``A @ (u + 0.5, v + 0.5) + c - 0.5`` in its half-pixel convention, so the
  translation is shifted to sample at ``inv(M) @ (u, v)`` exactly as
  ``imaging.crop_image``. Inside the image the two agree to within one grey level
  (Pillow rounds to uint8); where the bilinear taps leave the image Pillow does not
  fade to black as the NumPy sampler does.

  Args:
    frames: (T, H, W, 3) uint8.
    matrix: (2, 3) image -> crop matrix.
    output_size: crop (width, height).

  Returns:
    (T, height, width, 3) float32 in [0, 255].
  """
  from PIL import Image  # pylint: disable=g-import-not-at-top
  inv = imaging.invert_affine(matrix)
  (a, b, c), (d, e, f) = inv
  coeffs = (a, b, c - 0.5 * (a + b) + 0.5, d, e, f - 0.5 * (d + e) + 0.5)
  size = (int(output_size[0]), int(output_size[1]))
  return np.stack([
      np.asarray(Image.fromarray(np.ascontiguousarray(frame)).transform(
          size, Image.Transform.AFFINE, coeffs, resample=Image.Resampling.BILINEAR))
      for frame in frames]).astype(np.float32)


class TopDownClip(_TopDownClip, grain.transforms.Map):
  """Evaluation: the plain UDP crop of the box on all T frames (no augmentation)."""

  def map(self, element: dict[str, Any]) -> dict[str, Any]:
    return self.transform(element, None)


class RandomTopDownClip(_TopDownClip, grain.transforms.RandomMap):
  """Training: the crop with scale, rotation, flip and half-body augmentation."""

  def random_map(self, element: dict[str, Any],
                 rng: np.random.Generator) -> dict[str, Any]:
    return self.transform(element, rng)
