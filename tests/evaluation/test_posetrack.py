"""PoseTrack mAP: poseval parity on the shared fixture, rules, streaming and writer."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from sasmamba_jax import evaluation
from sasmamba_jax import skeletons
from sasmamba_jax.evaluation import base
from sasmamba_jax.evaluation import posetrack


@pytest.fixture(scope="module")
def fixture_dir(shared_fixtures):
  folder = shared_fixtures / "posetrack_eval"
  if not folder.is_dir():
    pytest.skip(f"{folder} not found (official poseval outputs ship beside the "
                "development checkout only)")
  return folder


def test_reproduces_poseval_on_the_fixture(fixture_dir):
  expected = json.loads((fixture_dir / "expected.json").read_text())
  got = evaluation.evaluate_posetrack(fixture_dir / "gt", fixture_dir / "pred")
  for name in expected["joint_order"]:
    assert got["per_joint"][name] == pytest.approx(
        expected["per_joint_ap"][name], abs=1e-9), name
    assert got["per_joint_precision"][name] == pytest.approx(
        expected["per_joint_precision"][name], abs=1e-9), name
    assert got["per_joint_recall"][name] == pytest.approx(
        expected["per_joint_recall"][name], abs=1e-9), name
    for k in ("n_gt", "n_pred", "n_tp"):
      assert got["per_joint_counts"][name][k] == expected["per_joint_counts"][name][k]
  for group, value in expected["group_ap"].items():
    assert got[group] == pytest.approx(value, abs=1e-9), group
  assert got["Total"] == pytest.approx(expected["total_ap"], abs=1e-9)
  assert got["mean_precision"] == pytest.approx(expected["mean_precision"], abs=1e-9)
  assert got["mean_recall"] == pytest.approx(expected["mean_recall"], abs=1e-9)
  assert evaluation.format_posetrack_table(got, poseval=True).split("\n") == expected[
      "printed_table"]
  table = evaluation.format_posetrack_table(got).splitlines()  # Markdown.
  assert table[0].startswith("|     | Head |") and table[1].startswith("|-----|")
  assert table[2] == "| mAP | " + " | ".join(
      f"{got[k]:.1f}".rjust(len(k)) for k in posetrack.TABLE_KEYS) + " |"
  assert got["num_frames"] == expected["n_frames_after_cleanup"][0]
  for seq, metrics in expected["poseval_per_sequence_AP_metrics_json"].items():
    assert got["per_video"][seq] == pytest.approx(metrics["ap"][-1], abs=1e-9)


def test_streaming_evaluator_matches_the_files_it_writes(fixture_dir, tmp_path):
  videos = posetrack.load_videos(fixture_dir / "gt")
  rng = np.random.default_rng(0)
  ids, rows = [], []
  for video in videos:
    for frame in video.frames:
      gt = frame.image_id
      for p in range(len(frame.persons)):  # one noisy detection per GT person
        kp = np.zeros((17, 3))
        kp[posetrack.SLOTS_17_TO_15, :2] = (frame.persons.points[p]
                                            + rng.normal(0, 6, (15, 2)))
        kp[:, 2] = rng.uniform(0.05, 1, 17)
        ids.append(gt)
        rows.append(kp)
      if frame.persons.present.any():  # and a false positive
        ids.append(gt)
        rows.append(np.concatenate([rng.uniform(0, 500, (17, 2)),
                                    rng.uniform(0, 1, (17, 1))], -1))
  ids, rows = np.asarray(ids), np.stack(rows)
  half = len(ids) // 2
  first, second = (evaluation.PoseTrackEvaluator(fixture_dir / "gt")
                   for _ in range(2))
  first.update(rows[:half], {"image_id": ids[:half]})
  second.update(rows[half:], {"image_id": ids[half:]})
  base.merge_states(first, [base.state_to_bytes(second.state())])
  streamed = first.result()
  first.write(tmp_path / "pred")
  from_files = evaluation.evaluate_posetrack(fixture_dir / "gt", tmp_path / "pred")
  assert streamed["Total"] == from_files["Total"]
  assert streamed["per_joint"] == from_files["per_joint"]
  assert 20 < streamed["Total"] < 100


def _video(tmp_path, name, frames, folder):
  """Writes a PoseTrack18 file: frames = [(persons, regions_x, regions_y)]."""
  images, anns = [], []
  for f, (persons, rx, ry) in enumerate(frames):
    image_id = 10000000000 + f
    images.append({"id": image_id, "file_name": f"images/val/{name}/{f:06d}.jpg",
                   "ignore_regions_x": rx, "ignore_regions_y": ry})
    for k, p in enumerate(persons):
      anns.append({"image_id": image_id, "track_id": k, **p})
  data = {"images": images, "annotations": anns, "categories": [
      {"name": "person", "keypoints": list(skeletons.POSETRACK.joint_names)}]}
  path = tmp_path / folder / f"{name}.json"
  path.parent.mkdir(parents=True, exist_ok=True)
  path.write_text(json.dumps(data))
  return path


def _person(xy, head=(0, 0, 10, 0), scores=None):
  kp = np.concatenate([np.asarray(xy, float), np.ones((17, 1))], -1)
  out = {"keypoints": kp.reshape(-1).tolist(), "bbox_head": list(head)}
  if scores is not None:
    out["scores"] = list(scores)
  return out


def test_greedy_matching_not_hungarian(tmp_path):
  # Head size 6 px -> threshold 3 px. Prediction 0 fits GT 0 on 17/17 joints and
  # GT 1 on none; prediction 1 fits GT 0 on 17 and GT 1 on 9: it keeps only its
  # best (GT 0), which already took prediction 0 (first index on ties), so GT 1
  # stays unmatched and all of prediction 1's joints are false positives.
  base_xy = np.stack([np.arange(17) * 20.0, np.zeros(17)], -1)
  gt1_xy = base_xy.copy()
  gt1_xy[:8, 1] += 100
  gt = [_person(base_xy), _person(gt1_xy)]
  preds = [_person(base_xy, scores=np.full(17, 0.9)),
           _person(base_xy, scores=np.full(17, 0.8))]
  _video(tmp_path, "000001_mpii_test", [(gt, [], [])], "gt")
  _video(tmp_path, "000001_mpii_test", [(preds, [], [])], "pred")
  got = evaluation.evaluate_posetrack(tmp_path / "gt", tmp_path / "pred")
  counts = got["per_joint_counts"]["head_top"]
  assert counts == {"n_gt": 2, "n_pred": 2, "n_tp": 1}
  # Ranked: TP (0.9), FP (0.8) -> recall 0.5 at precision 1: AP 50.
  assert got["per_joint"]["head_top"] == pytest.approx(50.0)


def test_ignore_regions_frames_and_presence(tmp_path):
  xy = np.stack([np.arange(17) * 20.0 + 5, np.full(17, 5.0)], -1)
  far = xy + [0, 1000]
  square_x, square_y = [[0, 1000, 1000, 0]], [[0, 0, 50, 50]]
  zero = {"keypoints": [0] * 51, "bbox_head": [0, 0, 10, 0]}
  gt_frames = [
      ([_person(xy)], square_x, square_y),   # GT inside the region: removed
      ([_person(far)], [], []),              # plain frame
      ([], [], []),                          # no GT persons: dropped
      ([zero], [], []),                      # a GT person without points
  ]
  pr_frames = [
      ([_person(xy, scores=np.full(17, .5))], [], []),   # inside: removed
      ([_person(far, scores=np.full(17, .7))], [], []),  # TP everywhere
      ([_person(far, scores=np.full(17, .9))], [], []),  # frame dropped
      ([_person(far, scores=np.full(17, .8))], [], []),  # all FP
  ]
  _video(tmp_path, "000002_bonn_test", gt_frames, "gt")
  _video(tmp_path, "000002_bonn_test", pr_frames, "pred")
  got = evaluation.evaluate_posetrack(tmp_path / "gt", tmp_path / "pred")
  assert got["num_frames"] == 3
  # Only 15 of 17 keypoints are poseval joints; ranked FP (0.8), TP (0.7): AP 50.
  assert got["per_joint_counts"]["nose"] == {"n_gt": 1, "n_pred": 2, "n_tp": 1}
  assert got["per_joint"]["nose"] == pytest.approx(50.0)
  assert got["Total"] == pytest.approx(50.0)


def test_point_in_polygon_is_exact_and_excludes_the_boundary():
  square = np.asarray([[0, 0], [4, 0], [4, 4], [0, 4]], float)
  assert posetrack.point_in_polygon(2, 2, square)
  for x, y in [(0, 2), (4, 4), (2, 0), (2, 4), (0, 0), (5, 2), (-1, 2), (2, 5)]:
    assert not posetrack.point_in_polygon(x, y, square), (x, y)
  concave = np.asarray([[0, 0], [6, 0], [6, 6], [3, 2], [0, 6]], float)  # a "V" notch
  assert posetrack.point_in_polygon(1, 1, concave)
  assert not posetrack.point_in_polygon(3, 4, concave)   # in the notch
  assert not posetrack.point_in_polygon(3, 2, concave)   # the notch's vertex
  assert posetrack.point_in_polygon(3, 1.9, concave)
  # A diagonal edge through float coordinates: exactly on it vs one ulp inside.
  tri = np.asarray([[0.1, 0.1], [0.7, 0.3], [0.1, 0.9]])
  x = 0.4
  y = 0.1 + (x - 0.1) * (0.3 - 0.1) / (0.7 - 0.1)
  on = posetrack._orientation(0.1, 0.1, 0.7, 0.3, x, y) == 0
  assert posetrack.point_in_polygon(x, y, tri) is (not on and
                                                    posetrack._orientation(
                                                        0.1, 0.1, 0.7, 0.3, x, y) > 0)
  assert posetrack.point_in_polygon(x, np.nextafter(y, 1) + 1e-12, tri)
  assert not posetrack.point_in_polygon(x, np.nextafter(y, 0) - 1e-12, tri)


def test_errors_name_the_file(tmp_path, fixture_dir):
  shutil.copytree(fixture_dir / "gt", tmp_path / "gt")
  shutil.copytree(fixture_dir / "pred", tmp_path / "pred")
  (tmp_path / "pred" / "010516_bonn_test.json").unlink()
  with pytest.raises(FileNotFoundError, match="010516_bonn_test"):
    evaluation.evaluate_posetrack(tmp_path / "gt", tmp_path / "pred")
  shutil.copy(fixture_dir / "pred" / "010516_bonn_test.json", tmp_path / "pred")
  pred = tmp_path / "pred" / "023754_mpiinew_test.json"
  data = json.loads(pred.read_text())
  data["images"] = data["images"][:-1]
  pred.write_text(json.dumps(data))
  with pytest.raises(ValueError, match="023754_mpiinew_test.*11 images.*has 12"):
    evaluation.evaluate_posetrack(tmp_path / "gt", tmp_path / "pred")
  pred.write_text("{not json")
  with pytest.raises(ValueError, match="023754_mpiinew_test.json: not a readable"):
    evaluation.evaluate_posetrack(tmp_path / "gt", tmp_path / "pred")
  gt = tmp_path / "gt" / "000342_mpii_test.json"
  data = json.loads(gt.read_text())
  del data["annotations"][0]["keypoints"]
  gt.write_text(json.dumps(data))
  with pytest.raises(ValueError, match="000342_mpii_test.json: missing key 'keypoints'"):
    evaluation.evaluate_posetrack(tmp_path / "gt", tmp_path / "pred")


def test_streaming_evaluator_refuses_bad_input(fixture_dir):
  ev = evaluation.PoseTrackEvaluator(fixture_dir / "gt")
  with pytest.raises(ValueError, match=r"\(B, 17, 3\)"):
    ev.update(np.zeros((2, 15, 3)), {"image_id": np.zeros(2, np.int64)})
  with pytest.raises(ValueError, match="not in the ground truth"):
    ev.update(np.zeros((1, 17, 3)), {"image_id": np.asarray([7])})


def _to_posetrack17(data):
  """poseval's PoseTrack18 -> 17 conversion (``to_old``) of one video dict."""
  names = data["categories"][0]["keypoints"]
  ids = {n: i for i, n in enumerate(posetrack._POSEVAL_NAMES_18)}  # pylint: disable=protected-access
  annolist = []
  for image in data["images"]:
    rects = []
    for ann in data["annotations"]:
      if ann["image_id"] != image["id"]:
        continue
      kp = np.asarray(ann["keypoints"], float).reshape(-1, 3)
      points = []
      for slot, name in enumerate(names):
        x, y, v = kp[slot]
        if name not in ids or (x == 0 and y == 0 and v == 0):
          continue
        point = {"id": [ids[name]], "x": [x], "y": [y], "is_visible": [v]}
        if ann.get("scores"):
          point["score"] = [ann["scores"][slot]]
        points.append(point)
      rect = {"track_id": [ann["track_id"]], "annopoints": [{"point": points}]}
      if "bbox_head" in ann:
        x, y, w, h = ann["bbox_head"]
        rect.update(x1=[x], y1=[y], x2=[x + w], y2=[y + h])
      rects.append(rect)
    entry = {"image": [{"name": image["file_name"]}], "annorect": rects}
    regions = list(zip(image.get("ignore_regions_x", []),
                       image.get("ignore_regions_y", [])))
    if regions:
      entry["ignore_regions"] = [{"point": [{"x": [a], "y": [b]} for a, b in zip(xs, ys)]}
                                 for xs, ys in regions]
    annolist.append(entry)
  return {"annolist": annolist}


def test_posetrack17_files_give_the_same_numbers(fixture_dir, tmp_path):
  for folder in ("gt", "pred"):
    (tmp_path / folder).mkdir()
    for path in (fixture_dir / folder).glob("*.json"):
      (tmp_path / folder / path.name).write_text(
          json.dumps(_to_posetrack17(json.loads(path.read_text()))))
  expected = json.loads((fixture_dir / "expected.json").read_text())
  got = evaluation.evaluate_posetrack(tmp_path / "gt", tmp_path / "pred")
  assert got["Total"] == pytest.approx(expected["total_ap"], abs=1e-9)
  for name, value in expected["per_joint_ap"].items():
    assert got["per_joint"][name] == pytest.approx(value, abs=1e-9)


def test_tables_are_markdown():
  one = {k: 70.0 + i for i, k in enumerate(posetrack.TABLE_KEYS)}
  two = dict(one, Total=80.25)
  table = evaluation.format_posetrack_comparison({"baseline": one, "glsmamba": two})
  assert table.splitlines() == [
      "| model    | Head | Shoulder | Elbow | Wrist |  Hip | Knee | Ankle | Total |",
      "|----------|------|----------|-------|-------|------|------|-------|-------|",
      "| baseline | 70.0 |     71.0 |  72.0 |  73.0 | 74.0 | 75.0 |  76.0 |  77.0 |",
      "| glsmamba | 70.0 |     71.0 |  72.0 |  73.0 | 74.0 | 75.0 |  76.0 |  80.2 |"]
  assert "&" not in evaluation.format_posetrack_table(one)
  jhmdb = {k: 50.0 for k in ("Head", "Shoulder", "Elbow", "Wrist", "Hip", "Knee",
                             "Ankle", "Mean")}
  assert evaluation.format_sub_jhmdb_table(jhmdb).startswith("|     | Head |")
