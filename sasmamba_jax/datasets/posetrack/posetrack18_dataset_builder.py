"""PoseTrack 2018 (and PoseTrack21, same layout) as top-down video-pose examples.

The dataset root is the release as users unpack it::

  ROOT/images/{train,val}/<video>/<frame>.jpg
  ROOT/annotations/{train,val}/<video>.json     (file_name relative to ROOT)
  ROOT/val_boxes.json                           (optional: PoseWarper detections)

Examples are described in ``posetrack_common``. Build with
``datasets.prepare("posetrack18", manual_dir=ROOT)``.
"""

from __future__ import annotations

from sasmamba_jax.datasets.posetrack import posetrack_common as pc


def _configs(name: str) -> list[pc.VideoPoseConfig]:
  return [
      pc.VideoPoseConfig(
          name="delta2", delta=2,
          description="T = 5 frames (delta 2), ground-truth boxes, JPEGs embedded."),
      pc.VideoPoseConfig(
          name="delta2_detections", delta=2, val_boxes="detections",
          description="T = 5, val boxes from val_boxes.json (score >= 0.2)."),
      pc.VideoPoseConfig(
          name="delta2_paths", delta=2, images="paths",
          description="T = 5, ground-truth boxes, frames read from the dataset root "
                      f"at training time ({name} stays 5x smaller on disk)."),
  ]


class Builder(pc.VideoPoseBuilder):
  """PoseTrack 2018 in its release layout (see the module docstring)."""

  BUILDER_CONFIGS = _configs("posetrack18")
  DESCRIPTION = __doc__
  HOMEPAGE = "https://posetrack.net"
  MANUAL_DOWNLOAD_INSTRUCTIONS = (
      "Register at https://posetrack.net, download the PoseTrack 2018 images and "
      "annotations and unpack them into one folder (images/, annotations/).")

  def _split_generators(self, dl_manager):
    dataset = f"{self.name}/{self.builder_config.name}"
    root = pc.manual_root(dl_manager, dataset)
    return self._examples_from_root(root, dataset, root / "val_boxes.json")
