import json

import numpy as np
import pytest

from sasmamba_jax.evaluation import base, coco


def _person(rng, image_id, ann_id, x0, y0):
  xy = rng.uniform([x0, y0], [x0 + 60, y0 + 120], (17, 2))
  kp = np.concatenate([xy, np.full((17, 1), 2.0)], axis=1)
  return {"id": ann_id, "image_id": image_id, "category_id": 1, "iscrowd": 0,
          "num_keypoints": 17, "keypoints": kp.reshape(-1).round(2).tolist(),
          "bbox": [x0, y0, 60.0, 120.0], "area": 60.0 * 120.0}


def fake_annotations(seed=0):
  rng = np.random.default_rng(seed)
  anns = [_person(rng, 1, 1, 10, 10), _person(rng, 1, 2, 150, 20),
          _person(rng, 2, 3, 40, 30)]
  return {"images": [{"id": 1, "width": 320, "height": 240, "file_name": "1.jpg"},
                     {"id": 2, "width": 320, "height": 240, "file_name": "2.jpg"}],
          "annotations": anns,
          "categories": [{"id": 1, "name": "person", "supercategory": "person",
                          "keypoints": [str(i) for i in range(17)],
                          "skeleton": []}]}


def _gt_rows(annotations):
  kp = np.array([a["keypoints"] for a in annotations["annotations"]]).reshape(-1, 17, 3)
  kp[..., 2] = 0.9
  return kp, {"image_id": np.array([a["image_id"] for a in annotations["annotations"]]),
              "area": np.full(len(kp), 60.0 * 120.0 * 1.5)}


def test_perfect_predictions_score_100_and_nothing_is_printed(capsys):
  annotations = fake_annotations()
  ev = coco.COCOKeypointEvaluator(annotations)
  kp, batch = _gt_rows(annotations)
  ev.update(kp, batch)
  result = ev.result()
  assert result["AP"] == pytest.approx(100.0) and result["AR"] == pytest.approx(100.0)
  assert result["AP50"] == pytest.approx(100.0) and result["APl"] == -1.0  # no large
  assert result["num_people"] == result["num_kept"] == 3
  assert capsys.readouterr().out == ""


def test_states_merge_to_the_single_evaluator_result(tmp_path):
  annotations = fake_annotations()
  path = tmp_path / "gt.json"
  path.write_text(json.dumps(annotations))
  kp, batch = _gt_rows(annotations)
  kp[:, :, :2] += np.random.default_rng(1).normal(0, 3, kp[:, :, :2].shape)
  whole = coco.COCOKeypointEvaluator(str(path))
  whole.update(kp, batch)
  parts = [coco.COCOKeypointEvaluator(str(path)) for _ in range(2)]
  parts[0].update(kp[:2], {k: v[:2] for k, v in batch.items()})
  parts[1].update(kp[2:], {k: v[2:] for k, v in batch.items()})
  base.merge_states(parts[0], [base.state_to_bytes(parts[1].state())])
  assert parts[0].result() == whole.result()
  assert 0 < whole.result()["AP"] < 100


def test_rescoring_and_oks_nms_follow_mmpose():
  kp = np.zeros((3, 17, 3))
  kp[0, :, 2] = 0.5
  kp[1, :5, 2] = 0.9          # 5 joints above 0.2, the rest 0
  kp[2, :, 2] = 0.1           # none above 0.2: score 0
  np.testing.assert_allclose(coco.rescore(kp, np.array([1., 0.5, 1.]), 0.2),
                             [0.5, 0.45, 0.0])
  # Two people at the same place (OKS 1 > 0.9): the lower one goes; a third far away stays.
  people = np.zeros((3, 17, 3))
  people[2, :, :2] = 500.0
  keep = coco.oks_nms(people, np.array([0.5, 0.9, 0.1]), np.full(3, 1000.0), 0.9)
  np.testing.assert_array_equal(keep, [1, 2])
  # OKS of one joint offset by d: exp(-d^2 / (2 s^2 (2 sigma)^2)), s^2 the mean area.
  moved = people[:1].copy()
  moved[0, 0, 0] = 3.0
  value = coco.oks(people[0], moved, 100.0, np.array([100.0]))
  expected = (16 + np.exp(-9.0 / (4 * coco.COCO_SIGMAS[0] ** 2) / 100 / 2)) / 17
  np.testing.assert_allclose(value, [expected], rtol=1e-6)


def test_nms_removes_a_duplicate_that_would_cost_ap():
  annotations = fake_annotations()
  kp, batch = _gt_rows(annotations)
  kp = np.concatenate([kp, kp[:1] + [0.5, 0.5, 0.0]])   # a second detection of person 1
  # ranked above person 3: without NMS it is a false positive before a true one.
  batch = {"image_id": np.append(batch["image_id"], 1), "area": np.full(4, 10800.0),
           "box_score": np.array([0.9, 0.9, 0.3, 0.5])}
  with_nms = coco.COCOKeypointEvaluator(annotations)
  with_nms.update(kp, batch)
  without = coco.COCOKeypointEvaluator(annotations, use_nms=False)
  without.update(kp, batch)
  assert with_nms.result()["AP"] == pytest.approx(100.0)
  assert with_nms.result()["num_kept"] == 3
  assert without.result()["AP"] < 100.0


def test_no_predictions_and_bad_inputs():
  ev = coco.COCOKeypointEvaluator(fake_annotations())
  assert ev.result()["AP"] == 0.0
  with pytest.raises(ValueError, match=r"\(B, 17, 3\)"):
    ev.update(np.zeros((2, 17, 2)), {"image_id": [1, 1]})
  with pytest.raises(ValueError, match="image_id"):
    ev.update(np.zeros((2, 17, 3)), {})
  with pytest.raises(ValueError, match="NaN"):
    ev.update(np.full((1, 17, 3), np.nan), {"image_id": [1]})
  with pytest.raises(FileNotFoundError, match="person_keypoints"):
    coco.COCOKeypointEvaluator("/nonexistent/gt.json")
