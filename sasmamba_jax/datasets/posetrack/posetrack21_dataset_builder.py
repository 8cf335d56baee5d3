"""PoseTrack21 (pose-estimation part) as top-down video-pose examples.

The dataset root is the release as its download script writes it::

  ROOT/images/{train,val}/<video>/<frame>.jpg
  ROOT/posetrack_data/{train,val}/<video>.json   (PoseTrack18 format plus
                                                  person_id, has_labeled_person)
  ROOT/val_boxes.json                            (optional: detections)

Persons with a box but no visible keypoint (PoseTrack21 annotates small people
with boxes only) give no example. Examples: see ``posetrack_common``.
"""

from __future__ import annotations

from sasmamba_jax.datasets.posetrack import posetrack18_dataset_builder
from sasmamba_jax.datasets.posetrack import posetrack_common as pc


class Builder(pc.VideoPoseBuilder):
  """PoseTrack21 in its release layout (see the module docstring)."""

  BUILDER_CONFIGS = posetrack18_dataset_builder._configs("posetrack21")  # pylint: disable=protected-access
  DESCRIPTION = __doc__
  HOMEPAGE = "https://github.com/anDoer/PoseTrack21"
  ANNOTATIONS = "posetrack_data"
  MANUAL_DOWNLOAD_INSTRUCTIONS = (
      "Request access from posetrack21@googlegroups.com, download with the "
      "PoseTrack21 repository's download_dataset.py and pass its folder.")

  def _split_generators(self, dl_manager):
    dataset = f"{self.name}/{self.builder_config.name}"
    root = pc.manual_root(dl_manager, dataset)
    return self._examples_from_root(root, dataset, root / "val_boxes.json")
