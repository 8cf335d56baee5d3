"""ViTPose on COCO val2017: person boxes -> ``estimate_2d`` -> COCO keypoint AP.

The test protocol of ViTPose's COCO configs (mmpose 0.x ``TopDownCocoDataset``):

* person boxes are either the ground-truth ones, cleaned as mmpose does (clipped to the
  image, people without labelled keypoints or with zero area dropped; box score 1) or
  a detection file (COCO results format, category 1, ``score >= det_bbox_thr``; the
  ViTPose numbers use ``COCO_val2017_detections_AP_H_56_person.json`` with threshold 0);
* each box is cropped at 256 x 192 with padding 1.25 (UDP), flip-tested, decoded with
  UDP DARK (``topdown.estimate_2d``);
* ``evaluation.COCOKeypointEvaluator`` rescales the scores, applies OKS-NMS and runs
  COCOeval.

``evaluate_coco(model, ...)`` takes any model; ``run(config)`` loads an official
checkpoint from a ``configs/coco_vitpose.py`` config (``experiments/evaluate_coco.py``).
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import pathlib
import time
from typing import Any, Callable, Sequence

import numpy as np

from sasmamba_jax import imaging, skeletons
from sasmamba_jax.codecs import HeatmapCodec
from sasmamba_jax.evaluation import coco as coco_eval
from sasmamba_jax.topdown import pipeline


def ground_truth_boxes(coco: Any, image_ids: Sequence[int]) -> dict[int, tuple]:
  """{image id: (boxes (N, 4) xywh, scores (N,))} of annotated people, mmpose-cleaned."""
  out = {}
  for image_id in image_ids:
    info = coco.imgs[image_id]
    width, height = info["width"], info["height"]
    boxes = []
    for ann in coco.loadAnns(coco.getAnnIds(imgIds=image_id, iscrowd=False)):
      if "bbox" not in ann:
        continue
      x, y, w, h = ann["bbox"]
      x1, y1 = max(0, x), max(0, y)
      x2 = min(width - 1, x1 + max(0, w - 1))
      y2 = min(height - 1, y1 + max(0, h - 1))
      if not (("area" not in ann or ann["area"] > 0) and x2 > x1 and y2 > y1):
        continue
      if ("keypoints" not in ann or max(ann["keypoints"]) == 0
          or ann.get("num_keypoints", 1) == 0):
        continue
      boxes.append([x1, y1, x2 - x1, y2 - y1])
    out[image_id] = (np.asarray(boxes, np.float64).reshape(-1, 4), np.ones(len(boxes)))
  return out


def detected_boxes(path: str | os.PathLike, image_ids: Sequence[int],
                   det_bbox_thr: float = 0.0) -> dict[int, tuple]:
  """{image id: (boxes, scores)} of the person detections in a COCO results file."""
  path = pathlib.Path(path)
  if not path.is_file():
    raise FileNotFoundError(
        f"person detection file {path} not found (ViTPose uses "
        "COCO_val2017_detections_AP_H_56_person.json; or set person_boxes='gt')")
  detections = json.loads(path.read_text())
  if not isinstance(detections, list) or not detections:
    raise ValueError(f"{path} holds no detections (expected a non-empty JSON list of "
                     "{image_id, category_id, bbox, score})")
  wanted = set(int(i) for i in image_ids)
  grouped = {i: ([], []) for i in image_ids}
  for det in detections:
    if det.get("category_id") != 1 or det["score"] < det_bbox_thr:
      continue
    if int(det["image_id"]) in wanted:
      grouped[int(det["image_id"])][0].append(det["bbox"][:4])
      grouped[int(det["image_id"])][1].append(det["score"])
  return {i: (np.asarray(b, np.float64).reshape(-1, 4), np.asarray(s, np.float64))
          for i, (b, s) in grouped.items()}


def load_image(path: str | os.PathLike) -> np.ndarray:
  """An image file as (H, W, 3) uint8 RGB (Pillow)."""
  from PIL import Image  # pylint: disable=g-import-not-at-top
  with Image.open(path) as image:
    return np.asarray(image.convert("RGB"))


def evaluate_coco(model: Any, annotation_file: Any, image_dir: str | os.PathLike, *,
                  person_boxes: str = "gt", det_bbox_thr: float = 0.0,
                  input_size: Sequence[int] = (192, 256), flip: bool = True,
                  batch_size: int = 32, images_per_step: int = 32, max_images: int = 0,
                  use_nms: bool = True, oks_thr: float = 0.9, vis_thr: float = 0.2,
                  results_file: str | os.PathLike | None = None,
                  log: Callable[[str], None] | None = print) -> dict[str, Any]:
  """COCO keypoint AP of a top-down model (ViTPose's protocol).

  Args:
    model: ``nnx.Module`` or callable, normalised crops -> heatmaps (``estimate_2d``).
    annotation_file: ``person_keypoints_val2017.json`` (path, dict or COCO object).
    image_dir: folder of the images (``val2017/``).
    person_boxes: "gt" or the path of a person detection file (COCO results format).
    det_bbox_thr: detections below this score are dropped (ViTPose: 0).
    input_size: crop (width, height).
    flip: flip test.
    batch_size: crops per model call.
    images_per_step: images read (in threads) and cropped per step.
    max_images: evaluate the first N images (sorted ids) only; 0: all.
    use_nms, oks_thr, vis_thr: ``COCOKeypointEvaluator`` options (ViTPose's values).
    results_file: also write the kept people as a COCO results JSON here.
    log: progress lines (None: silent).

  Returns:
    The evaluator's result (AP ... in percent) plus ``num_images``,
    ``num_boxes``, ``skipped_boxes`` (degenerate boxes dropped) and ``seconds``.
  """
  gt = coco_eval.load_coco(annotation_file)
  image_ids = sorted(gt.getImgIds())
  if max_images:
    image_ids = image_ids[:max_images]
  if person_boxes == "gt":
    boxes = ground_truth_boxes(gt, image_ids)
  else:
    boxes = detected_boxes(person_boxes, image_ids, det_bbox_thr)
  evaluator = coco_eval.COCOKeypointEvaluator(
      gt, vis_thr=vis_thr, oks_thr=oks_thr, use_nms=use_nms,
      image_ids=image_ids if max_images else None)
  image_dir = pathlib.Path(image_dir)
  todo, skipped = [], 0
  for image_id in image_ids:
    b, s = boxes[image_id]
    info = gt.imgs[image_id]
    ok = pipeline.valid_boxes(b, (info["width"], info["height"]))
    skipped += int((~ok).sum())
    if ok.any():
      todo.append((image_id, image_dir / info["file_name"], b[ok], s[ok]))
  if log:
    log(f"COCO: {len(image_ids)} images, {sum(len(t[2]) for t in todo)} person boxes "
        f"({person_boxes if person_boxes == 'gt' else 'detected'}), {skipped} "
        "degenerate boxes skipped")

  start, done = time.time(), 0
  steps = [todo[i:i + images_per_step] for i in range(0, len(todo), images_per_step)]
  with concurrent.futures.ThreadPoolExecutor(4) as pool:
    # Reads the next step's images while the current one runs.
    pending = [pool.submit(load_image, t[1]) for t in steps[0]] if steps else []
    for n, step in enumerate(steps):
      images = [f.result() for f in pending]
      if n + 1 < len(steps):
        pending = [pool.submit(load_image, t[1]) for t in steps[n + 1]]
      for (image_id, path, _, _), image in zip(step, images):
        info = gt.imgs[image_id]
        if image.shape[:2] != (info["height"], info["width"]):
          raise ValueError(f"{path} is {image.shape[1]} x {image.shape[0]}, the "
                           f"annotations say {info['width']} x {info['height']}")
      results = pipeline.estimate_2d(model, images, [t[2] for t in step],
                                     codec=HeatmapCodec(tuple(input_size)), flip=flip,
                                     skeleton=skeletons.COCO, batch_size=batch_size)
      for (image_id, _, b, s), (keypoints, scores) in zip(step, results):
        _, scale = imaging.box_to_center_scale(b, input_size[0] / input_size[1])
        evaluator.update(
            np.concatenate([keypoints, scores[..., None]], axis=-1),
            {"image_id": np.full(len(b), image_id), "box_score": s,
             # mmpose's area of a person: the padded crop's, prod(200 * scale).
             "area": np.prod(scale * 200.0, axis=-1)})
      done += len(step)
      if log and (n + 1) % 10 == 0:
        log(f"  {done} / {len(todo)} images, {done / (time.time() - start):.1f} images/s")
  result = evaluator.result()
  if results_file:
    pathlib.Path(results_file).write_text(json.dumps(evaluator.results_json()))
  return {**result, "num_images": len(image_ids),
          "num_boxes": int(sum(len(t[2]) for t in todo)), "skipped_boxes": skipped,
          "seconds": round(time.time() - start, 2)}


#: Official COCO val2017 AP (256 x 192, detected boxes, flip test), REFERENCE section 8.
OFFICIAL_AP = {"vitpose_s": 73.8, "vitpose_b": 75.8, "vitpose_l": 78.3, "vitpose_h": 79.1}


def load_model(config: Any) -> Any:
  """The ViTPose of a ``configs/coco_vitpose.py`` config, checked against its size.

  ``config.checkpoint``: an official file (``checkpoints.load_official``: the ViTPose
  ``.pth``, an mmpose 1.x ``.pth``, a Hugging Face safetensors folder) or a model
  directory of ours (``save_pretrained``; its own dtype and crop size, which the
  model interpolates to ``input_size``).
  """
  from sasmamba_jax import models  # pylint: disable=g-import-not-at-top
  from sasmamba_jax.checkpoints import sources  # pylint: disable=g-import-not-at-top
  if not config.checkpoint:
    raise ValueError("set --config.checkpoint=PATH (an official ViTPose .pth, an mmpose "
                     "1.x .pth, a Hugging Face safetensors folder, or a model directory)")
  source = sources.resolve(config.checkpoint)
  if isinstance(source, sources.ModelDirectory):
    model = sources.load_model(source)
    if not isinstance(model, models.ViTPose):
      raise ValueError(f"{config.checkpoint} holds a {type(model).__name__}, not a "
                       "ViTPose")
  else:
    width, height = config.input_size
    heads = {"num_heads": config.num_heads} if config.get("num_heads") else {}
    model = sources.load_model(source, image_size=(height, width), dtype=config.dtype,
                               **heads)
  expected = models.get_config(config.model).embed_dim
  if model.config.embed_dim != expected:
    raise ValueError(f"{config.checkpoint} holds a ViTPose of width "
                     f"{model.config.embed_dim}; {config.model} has width {expected} "
                     "(pick the config that matches the file)")
  return model


def run(config: Any, log: Callable[[str], None] | None = print) -> dict[str, Any]:
  """Evaluates ``config.checkpoint`` on COCO as ``configs/coco_vitpose.py`` says."""
  # The data files first: loading a ViTPose-H takes a while.
  data = config.data
  checks = [("annotation_file", os.path.isfile), ("image_dir", os.path.isdir)]
  if data.person_boxes != "gt":
    checks.append(("person_boxes", os.path.isfile))
  for key, exists in checks:
    if not exists(data[key]):
      raise FileNotFoundError(f"{data[key]} not found: set --config.data.{key} "
                              "(sasmamba_jax/topdown/README.md says where to get it)")
  model = load_model(config)
  result = evaluate_coco(
      model, config.data.annotation_file, config.data.image_dir,
      person_boxes=config.data.person_boxes, det_bbox_thr=config.data.det_bbox_thr,
      input_size=tuple(config.input_size), flip=config.flip,
      batch_size=config.batch_size, images_per_step=config.images_per_step,
      max_images=config.max_images, use_nms=config.use_nms, oks_thr=config.oks_thr,
      vis_thr=config.vis_thr, results_file=config.results_file or None, log=log)
  result = {"model": config.model, "checkpoint": str(config.checkpoint),
            "official_ap": OFFICIAL_AP.get(config.model), **result}
  if log:
    log(" ".join(f"{k} {result[k]:.1f}" for k in coco_eval.STAT_NAMES))
  if config.output:
    pathlib.Path(config.output).write_text(json.dumps(result, indent=2))
  return result
