"""COCO keypoint AP, as ViTPose / mmpose 0.x evaluate top-down predictions.

``COCOKeypointEvaluator`` is a streaming evaluator (``base.Evaluator``): it keeps one
row per person box (image id, keypoints with scores, box score, box area) and, in
``result()``, does what mmpose's ``TopDownCocoDataset.evaluate`` does with the
ViTPose configs (``vis_thr=0.2``, ``oks_thr=0.9``, ``use_nms=True``,
``soft_nms=False``):

1. rescoring: a person's score is its box score (1 for ground-truth boxes, the
   detector's otherwise) times the mean of its keypoint scores above ``vis_thr``
   (times 0 when none is above);
2. OKS-NMS per image: people in decreasing score order, dropping any whose OKS with
   a kept one exceeds ``oks_thr``; OKS here uses the COCO sigmas, both people's
   areas (the *padded* crop areas ``prod(200 * scale)``) and every joint;
3. pycocotools' ``COCOeval(..., 'keypoints')`` on the survivors (its printing is
   captured, not shown). mmpose calls xtcocotools, an extension of pycocotools for
   other datasets; on COCO files both use the same sigmas, areas and 20 people per
   image.

AP numbers are returned in percent (COCOeval's fractions times 100; -1 where COCOeval
has no ground truth, e.g. no medium person). Not done: mmpose's de-duplication of
repeated box ids (they come from its distributed sampler's padding, which the house
prediction loop drops before ``update``).
"""

from __future__ import annotations

import contextlib
import io
import os
from typing import Any, Mapping, Sequence

import numpy as np

#: COCO's per-keypoint OKS sigmas (pycocotools' and mmpose's ``dataset_info``).
COCO_SIGMAS = np.array([.26, .25, .25, .35, .35, .79, .79, .72, .72, .62, .62, 1.07,
                        1.07, .87, .87, .89, .89]) / 10.0

STAT_NAMES = ("AP", "AP50", "AP75", "APm", "APl", "AR", "AR50", "AR75", "ARm", "ARl")


def _pycocotools():
  try:
    from pycocotools import coco, cocoeval  # pylint: disable=g-import-not-at-top
  except ImportError as e:
    raise ImportError("COCO evaluation needs pycocotools: pip install pycocotools") from e
  return coco, cocoeval


def load_coco(annotations: Any) -> Any:
  """A ``pycocotools.coco.COCO`` from a path, a loaded dict or a COCO object (quiet)."""
  coco_lib, _ = _pycocotools()
  if isinstance(annotations, coco_lib.COCO):
    return annotations
  if isinstance(annotations, (str, os.PathLike)):
    if not os.path.isfile(annotations):
      raise FileNotFoundError(f"COCO annotation file {annotations} not found (e.g. "
                              "annotations/person_keypoints_val2017.json)")
    with contextlib.redirect_stdout(io.StringIO()):
      return coco_lib.COCO(os.fspath(annotations))
  if isinstance(annotations, Mapping):
    gt = coco_lib.COCO()
    gt.dataset = dict(annotations)
    with contextlib.redirect_stdout(io.StringIO()):
      gt.createIndex()
    return gt
  raise TypeError(f"annotations must be a path, a dict or a COCO object, got "
                  f"{type(annotations).__name__}")


def rescore(keypoints: np.ndarray, box_scores: np.ndarray,
            vis_thr: float = 0.2) -> np.ndarray:
  """(M,) person scores: box score x mean keypoint score over those > ``vis_thr``."""
  scores = keypoints[..., 2]
  above = scores > vis_thr
  count = above.sum(axis=-1)
  mean = np.where(count > 0, np.where(above, scores, 0).sum(-1) / np.maximum(count, 1), 0)
  return mean * box_scores


def oks(reference: np.ndarray, others: np.ndarray, area_ref: float,
        areas: np.ndarray, sigmas: np.ndarray = COCO_SIGMAS) -> np.ndarray:
  """OKS of people (M, K, 2+) against one (K, 2+), mmpose's ``oks_iou`` (all joints)."""
  variances = (sigmas * 2) ** 2
  d2 = ((others[..., :2] - reference[None, :, :2]) ** 2).sum(-1)
  e = d2 / variances / ((area_ref + areas[:, None]) / 2 + np.spacing(1)) / 2
  return np.exp(-e).mean(axis=-1)


def oks_nms(keypoints: np.ndarray, scores: np.ndarray, areas: np.ndarray,
            threshold: float = 0.9, sigmas: np.ndarray = COCO_SIGMAS) -> np.ndarray:
  """Indices kept by greedy OKS-NMS (mmpose's ``oks_nms``), highest score first."""
  order = np.argsort(scores, kind="stable")[::-1]
  keep = []
  while order.size:
    i, order = order[0], order[1:]
    keep.append(i)
    if order.size:
      order = order[oks(keypoints[i], keypoints[order], areas[i], areas[order],
                        sigmas) <= threshold]
  return np.asarray(keep, np.int64)


class COCOKeypointEvaluator:
  """Streaming COCO keypoint AP over top-down predictions (one row per person box).

  ``update(predictions, batch)``: predictions (B, K, 3) as (x, y, score) in image
  pixels; ``batch`` holds ``image_id`` (B,) and optionally ``box_score`` (B,)
  (default 1, as for ground-truth boxes) and the person's area for OKS-NMS:
  ``area`` (B,), or the crops' ``scale`` (B, 2) (mmpose's area, the padded crop's
  ``prod(200 * scale)``); default: the keypoints' bounding box area.
  """

  metadata_keys = ("image_id", "box_score", "area", "scale")

  def __init__(self, annotations: Any, *, vis_thr: float = 0.2, oks_thr: float = 0.9,
               use_nms: bool = True, sigmas: Sequence[float] | None = None,
               image_ids: Sequence[int] | None = None):
    """Args:
      annotations: COCO keypoint annotations (path, dict or ``COCO`` object).
      vis_thr: keypoint-score threshold of the rescoring.
      oks_thr: OKS-NMS threshold (people with OKS above it are dropped).
      use_nms: apply OKS-NMS (ViTPose: True).
      sigmas: (K,) OKS sigmas; default the 17 COCO ones.
      image_ids: evaluate on these images only (default: every image of the file;
        images without predictions then count their people as missed).
    """
    self._coco = load_coco(annotations)
    self.vis_thr, self.oks_thr, self.use_nms = vis_thr, oks_thr, use_nms
    self.sigmas = COCO_SIGMAS if sigmas is None else np.asarray(sigmas, np.float64)
    self.image_ids = None if image_ids is None else [int(i) for i in image_ids]
    cats = self._coco.loadCats(self._coco.getCatIds())
    person = [c["id"] for c in cats if c.get("name") == "person"] or [c["id"] for c in cats]
    if not person:
      raise ValueError("the COCO annotations have no categories (expected 'person')")
    self.category_id = int(person[0])
    k = len(self.sigmas)
    self._rows = {"image_id": np.zeros((0,), np.int64),
                  "keypoints": np.zeros((0, k, 3), np.float32),
                  "box_score": np.zeros((0,), np.float32),
                  "area": np.zeros((0,), np.float32)}

  @property
  def coco(self):
    return self._coco

  def update(self, predictions: np.ndarray, batch: Mapping[str, Any]) -> None:
    predictions = np.asarray(predictions, np.float32)
    k = len(self.sigmas)
    if predictions.ndim != 3 or predictions.shape[1:] != (k, 3):
      raise ValueError(f"predictions must be (B, {k}, 3) as (x, y, score), got "
                       f"{predictions.shape}")
    if not np.isfinite(predictions).all():
      raise ValueError("predictions hold NaN or infinite values")
    if "image_id" not in batch:
      raise ValueError("batch needs 'image_id' (B,): the COCO image of each person")
    b = len(predictions)
    image_id = np.asarray(batch["image_id"], np.int64).reshape(-1)
    box_score = np.asarray(batch.get("box_score", np.ones(b)), np.float32).reshape(-1)
    if "area" in batch:
      area = np.asarray(batch["area"], np.float32).reshape(-1)
    elif "scale" in batch:   # mmpose's person area: the padded crop's
      area = np.prod(np.asarray(batch["scale"], np.float32).reshape(-1, 2) * 200.0,
                     axis=-1)
    else:
      extent = predictions[..., :2].max(1) - predictions[..., :2].min(1)
      area = np.prod(extent, axis=-1)
    for name, a in (("image_id", image_id), ("box_score", box_score), ("area", area)):
      if a.shape != (b,):
        raise ValueError(f"batch[{name!r}] must be ({b},), got {a.shape}")
    self.merge({"image_id": image_id, "keypoints": predictions,
                "box_score": box_score, "area": area})

  def state(self) -> dict[str, np.ndarray]:
    return dict(self._rows)

  def merge(self, state: Mapping[str, np.ndarray]) -> None:
    self._rows = {k: np.concatenate([v, np.asarray(state[k], v.dtype)])
                  for k, v in self._rows.items()}

  def results_json(self) -> list[dict[str, Any]]:
    """The rescored, NMS-filtered people as COCO result dicts (the results file)."""
    rows = self._rows
    scores = rescore(rows["keypoints"], rows["box_score"], self.vis_thr)
    out = []
    for image_id in np.unique(rows["image_id"]):
      idx = np.flatnonzero(rows["image_id"] == image_id)
      if self.use_nms:
        idx = idx[oks_nms(rows["keypoints"][idx], scores[idx], rows["area"][idx],
                          self.oks_thr, self.sigmas)]
      for i in idx:
        out.append({"image_id": int(image_id), "category_id": self.category_id,
                    "keypoints": rows["keypoints"][i].reshape(-1).astype(float).tolist(),
                    "score": float(scores[i])})
    return out

  def result(self) -> dict[str, Any]:
    """AP, AP50, AP75, APm, APl, AR, AR50, AR75, ARm, ARl in percent, and counts."""
    _, cocoeval = _pycocotools()
    results = self.results_json()
    out = {"num_people": int(len(self._rows["image_id"])),
           "num_kept": len(results)}
    if not results:
      return {**{name: 0.0 for name in STAT_NAMES}, **out}
    with contextlib.redirect_stdout(io.StringIO()):
      detections = self._coco.loadRes(results)
      ev = cocoeval.COCOeval(self._coco, detections, "keypoints")
      ev.params.kpt_oks_sigmas = self.sigmas
      if self.image_ids is not None:
        ev.params.imgIds = self.image_ids
      ev.evaluate()
      ev.accumulate()
      ev.summarize()
    stats = {name: float(v) * 100 if v >= 0 else -1.0
             for name, v in zip(STAT_NAMES, ev.stats)}
    return {**stats, **out}


def format_coco_table(results: Mapping[str, Any]) -> str:
  """COCO keypoint AP / AR (percent) as a two-row table."""
  names = [n for n in STAT_NAMES if n in results]
  width = max(6, *(len(n) for n in names))
  head = " ".join(f"{n:>{width}}" for n in names)
  row = " ".join(f"{results[n]:>{width}.1f}" for n in names)
  return f"{head}\n{row}"
