"""The COCO path end to end on a tiny fake val2017 (JPEGs and annotations written here)."""

import json

import numpy as np
import pytest
from PIL import Image

from sasmamba_jax.topdown import coco
from tests.topdown import test_pipeline as fakes

# People: one bright blob each; all 17 keypoints of a person sit on its blob, so the
# blob model (every heatmap = the image brightness) predicts them exactly.
PEOPLE = {1: [(40.0, 50.0), (150.0, 60.0)], 2: [(90.0, 100.0)], 3: []}
SIZE = (200, 160)


def _write_coco(root):
  images, annotations = [], []
  for image_id, blobs in PEOPLE.items():
    name = f"{image_id:012d}.jpg"
    Image.fromarray(fakes._blob_image(blobs, SIZE)).save(root / name, quality=95)
    images.append({"id": image_id, "file_name": name, "width": SIZE[0],
                   "height": SIZE[1]})
    for x, y in blobs:
      kp = np.tile([x, y, 2.0], 17)
      annotations.append({"id": len(annotations) + 1, "image_id": image_id,
                          "category_id": 1, "iscrowd": 0, "num_keypoints": 17,
                          "keypoints": kp.tolist(), "bbox": [x - 20, y - 30, 40, 60],
                          "area": 40 * 60.0})
  gt = {"images": images, "annotations": annotations,
        "categories": [{"id": 1, "name": "person", "keypoints": [], "skeleton": []}]}
  (root / "gt.json").write_text(json.dumps(gt))
  return root / "gt.json"


@pytest.fixture(scope="module")
def fake_coco(tmp_path_factory):
  root = tmp_path_factory.mktemp("coco")
  return _write_coco(root), root


def test_perfect_predictions_from_ground_truth_boxes_score_100(fake_coco, tmp_path):
  gt, root = fake_coco
  results_file = tmp_path / "results.json"
  result = coco.evaluate_coco(fakes.blob_model, str(gt), root,
                              input_size=fakes.INPUT, log=None,
                              results_file=results_file)
  assert result["AP"] == pytest.approx(100.0) and result["AR"] == pytest.approx(100.0)
  assert result["num_boxes"] == 3 and result["num_images"] == 3
  assert len(json.loads(results_file.read_text())) == 3


def test_detections_are_rescored_and_deduplicated(fake_coco, tmp_path):
  gt, root = fake_coco
  detections = [
      {"image_id": 1, "category_id": 1, "bbox": [20, 20, 40, 60], "score": 0.9},
      {"image_id": 1, "category_id": 1, "bbox": [125, 28, 50, 64], "score": 0.8},
      {"image_id": 2, "category_id": 1, "bbox": [70, 70, 40, 60], "score": 0.4},
      # The same person again (OKS-NMS drops it) ranked above the one of image 2 ...
      {"image_id": 1, "category_id": 1, "bbox": [22, 18, 36, 62], "score": 0.7},
      # ... a box on an empty image (heatmap scores 0: rescored to 0), a box of
      # zero width (skipped), a non-person and one under the score threshold.
      {"image_id": 3, "category_id": 1, "bbox": [50, 50, 40, 60], "score": 0.95},
      {"image_id": 3, "category_id": 1, "bbox": [50, 50, 0, 60], "score": 0.95},
      {"image_id": 2, "category_id": 2, "bbox": [70, 70, 40, 60], "score": 0.9},
      {"image_id": 2, "category_id": 1, "bbox": [0, 0, 40, 60], "score": 0.01},
  ]
  path = tmp_path / "detections.json"
  path.write_text(json.dumps(detections))
  kw = dict(person_boxes=str(path), det_bbox_thr=0.05, input_size=fakes.INPUT, log=None)
  result = coco.evaluate_coco(fakes.blob_model, str(gt), root, **kw)
  assert result["AP"] == pytest.approx(100.0)
  assert result["num_boxes"] == 5 and result["skipped_boxes"] == 1
  assert result["num_kept"] == 4
  without_nms = coco.evaluate_coco(fakes.blob_model, str(gt), root, use_nms=False, **kw)
  assert without_nms["AP"] < 100.0


def test_the_command_evaluates_an_official_checkpoint(fake_coco, tmp_path,
                                                      tiny_checkpoint, tiny_vitpose):
  del tiny_vitpose  # built once for the session: loading the file again is quick
  gt, root = fake_coco
  from experiments import evaluate_coco  # pylint: disable=g-import-not-at-top
  from sasmamba_jax import cli  # pylint: disable=g-import-not-at-top
  output = tmp_path / "metrics.json"
  height, width = tiny_checkpoint["image_size"]
  argv = ["evaluate_coco", "--config=configs/coco_vitpose.py:b",
          "--config.model=vitpose_tiny", f"--config.checkpoint={tiny_checkpoint['path']}",
          f"--config.data.annotation_file={gt}", f"--config.data.image_dir={root}",
          "--config.data.person_boxes=gt", f"--config.input_size=({width}, {height})",
          f"--config.num_heads={tiny_checkpoint['num_heads']}",
          f"--config.output={output}"]
  with pytest.raises(SystemExit) as exit_info:
    cli.run(evaluate_coco.main, argv)
  assert exit_info.value.code in (0, None)
  metrics = json.loads(output.read_text())
  assert metrics["model"] == "vitpose_tiny" and metrics["num_boxes"] == 3
  assert 0.0 <= metrics["AP"] <= 100.0


def test_the_command_refuses_a_checkpoint_of_another_size(tiny_checkpoint):
  config = __import__("configs.coco_vitpose", fromlist=["get_config"]).get_config("b")
  config.checkpoint = str(tiny_checkpoint["path"])
  config.num_heads = tiny_checkpoint["num_heads"]
  height, width = tiny_checkpoint["image_size"]
  config.input_size = (width, height)
  with pytest.raises(ValueError, match="vitpose_b has width 768"):
    coco.load_model(config)
