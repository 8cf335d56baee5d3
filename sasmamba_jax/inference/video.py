"""From video to 2D keypoints: frames, person boxes, and a top-down 2D model.

``experiments.lift --video=... --boxes=... --pose2d=...`` reads the frames (a folder
of images, or a video file through imageio with the ``viz`` extra), takes the person
boxes of a COCO detection results file (``[{"image_id", "category_id", "bbox":
[x, y, w, h], "score"}]``, image ids = frame numbers or frame file names), runs the
2D model (ViTPose) on every box with ``topdown.estimate_2d`` and hands the result to
the lifter as ``Detections`` in the COCO layout.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
from collections.abc import Callable
from typing import Any

import numpy as np
from PIL import Image
import tqdm

from sasmamba_jax import topdown
from sasmamba_jax.codecs import HeatmapCodec
from sasmamba_jax.inference.formats import Detections
from sasmamba_jax.inference.formats import KeypointFileError
from sasmamba_jax.inference.formats import Person
from sasmamba_jax.inference.formats import natural_key

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


@dataclasses.dataclass
class Frames:
  """Random access to the frames of a video or an image folder."""

  names: list[str]                     # one per frame (file name or index)
  size: tuple[int, int]                # (width, height)
  fps: float | None
  _get: Callable[[int], np.ndarray]

  def __len__(self) -> int:
    return len(self.names)

  def __call__(self, index: int) -> np.ndarray:
    """Frame ``index`` as (H, W, 3) uint8 RGB."""
    return self._get(index)


def _read_image(path: pathlib.Path) -> np.ndarray:
  try:
    with Image.open(path) as img:
      return np.asarray(img.convert("RGB"))
  except (OSError, Image.DecompressionBombError) as e:  # The bomb: a huge claimed size.
    raise KeypointFileError(f"{path}: cannot decode the image ({e})") from None


def read_frames(path: str | pathlib.Path) -> Frames:
  """Frames of an image folder (natural name order) or a video file."""
  path = pathlib.Path(path)
  if not path.exists():
    raise KeypointFileError(f"--video={path} does not exist")
  if path.is_dir():
    files = sorted((p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES),
                   key=lambda p: natural_key(p.name))
    if not files:
      raise KeypointFileError(f"{path}: no images ({', '.join(IMAGE_SUFFIXES)}) in "
                              "the folder")
    first = _read_image(files[0])
    return Frames([p.name for p in files], (first.shape[1], first.shape[0]), None,
                  lambda i: _read_image(files[i]))
  try:
    import imageio.v3 as iio  # pylint: disable=g-import-not-at-top
  except ImportError:
    raise KeypointFileError("reading a video file needs imageio: pip install "
                            "'sasmamba_jax[viz]', or give a folder of frames") from None
  try:
    frames = np.asarray(iio.imread(path, index=None))
    meta = iio.immeta(path, exclude_applied=False)
  except Exception as e:  # pylint: disable=broad-except  # Any decoder failure.
    raise KeypointFileError(f"{path}: cannot read the video ({e})") from None
  if frames.ndim != 4 or frames.shape[0] == 0:
    raise KeypointFileError(f"{path}: no frames could be decoded")
  frames = frames[..., :3]
  fps = meta.get("fps")
  return Frames([str(i) for i in range(len(frames))],
                (frames.shape[2], frames.shape[1]), float(fps) if fps else None,
                lambda i: frames[i])


def read_boxes(path: str | pathlib.Path, frames: Frames, *,
               score_threshold: float = 0.5) -> list[np.ndarray]:
  """Person boxes per frame: a list of (N_i, 5) arrays (x, y, w, h, score)."""
  path = pathlib.Path(path)
  try:
    data = json.loads(path.read_text())
  except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
    raise KeypointFileError(f"--boxes={path}: cannot read it as JSON ({e})") from None
  except RecursionError:
    raise KeypointFileError(f"--boxes={path}: not detection results (its JSON is "
                            "nested too deeply to read)") from None
  if not isinstance(data, list):
    raise KeypointFileError(f"--boxes={path}: expected a COCO detection results "
                            "list [{image_id, category_id, bbox, score}]")
  by_name = {n: i for i, n in enumerate(frames.names)}
  by_stem = {pathlib.PurePath(n).stem: i for i, n in enumerate(frames.names)}
  out: list[list[list[float]]] = [[] for _ in range(len(frames))]
  unknown = set()
  for n, item in enumerate(data):
    if not isinstance(item, dict) or "bbox" not in item or "image_id" not in item:
      raise KeypointFileError(f"--boxes={path}: entry {n} needs 'image_id' and "
                              "'bbox'")
    try:
      score = float(item.get("score", 1.0))
      box = [float(v) for v in item["bbox"]][:4]
    except (TypeError, ValueError):
      raise KeypointFileError(f"--boxes={path}: entry {n}: 'bbox' must be [x, y, w, "
                              "h] and 'score' a number") from None
    if len(box) != 4:
      raise KeypointFileError(f"--boxes={path}: entry {n}: 'bbox' must be [x, y, w, "
                              f"h], got {len(box)} numbers")
    if item.get("category_id", 1) != 1 or score < score_threshold:
      continue
    key = item["image_id"]
    index = by_name.get(str(key), by_stem.get(pathlib.PurePath(str(key)).stem))
    if index is None and isinstance(key, int) and 0 <= key < len(frames):
      index = key
    if index is None:
      unknown.add(str(key))
      continue
    if not (np.all(np.isfinite(box)) and box[2] > 1 and box[3] > 1):
      continue  # degenerate detector boxes are dropped, not lifted
    w, h = frames.size
    if not (box[0] < w and box[1] < h and box[0] + box[2] > 0 and box[1] + box[3] > 0
            and box[2] < 10 * w and box[3] < 10 * h):
      raise KeypointFileError(f"--boxes={path}: entry {n}: bbox {box} is not on the "
                              f"{w}x{h} frames; give the boxes of these frames")
    out[index].append(box + [score])
  if unknown:
    shown = ", ".join(sorted(unknown)[:5])
    raise KeypointFileError(f"--boxes={path}: image ids {shown} match no frame of "
                            f"the video ({len(frames)} frames: use frame numbers "
                            "from 0 or the frame file names)")
  return [np.asarray(b, np.float64).reshape(-1, 5) for b in out]


def detect_2d(model: Any, frames: Frames, boxes: list[np.ndarray], *,
              input_size: tuple[int, int] | None = None, flip: bool = True
              ) -> Detections:
  """Runs a top-down 2D model on every box of every frame -> COCO ``Detections``.

  ``input_size`` (width, height) defaults to the crop the model was built for.
  A keypoint's score is its heatmap maximum; a person's score its box score.
  """
  codec = (topdown.model_codec(model) if input_size is None
           else HeatmapCodec(tuple(input_size)))
  people: list[list[Person]] = []
  for i in tqdm.tqdm(range(len(frames)), desc="2D pose", unit="frame",
                     disable=len(frames) < 50):
    b = boxes[i]
    image = frames(i)
    inside = b[:, :4].copy()
    if len(inside):
      keep = topdown.valid_boxes(inside, (image.shape[1], image.shape[0]))
      b, inside = b[keep], inside[keep]
    if not len(b):
      people.append([])
      continue
    keypoints, scores = topdown.estimate_2d(model, image, inside, codec=codec,
                                            flip=flip)
    people.append([
        Person(np.concatenate([keypoints[n], scores[n][:, None]], -1).astype(
            np.float64), float(b[n, 4]), None, b[n, :4])
        for n in range(len(b))])
  det = Detections("video", "coco", people, list(frames.names), frames.size,
                   frames.fps)
  if det.num_people == 0:
    raise KeypointFileError("no person box in any frame (check --boxes and its "
                            "score threshold)")
  return det
