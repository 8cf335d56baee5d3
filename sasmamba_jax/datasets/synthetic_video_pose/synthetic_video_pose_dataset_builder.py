"""synthetic_video_pose: rendered PoseTrack18-format videos, no download needed.

``render.py`` draws the videos (moving people made of shaded capsules over textured
backgrounds, with frames where some joints are hidden, blurred or faded while the
neighbouring frames stay clean) into the PoseTrack18 release layout, once per
config, seed and version, under
``DATA_DIR/synthetic_video_pose_release/<config>-seed<S>-v<version>/``.
The examples are then read from that folder by the same code as ``posetrack18``,
and the folder stays: its ``annotations/val`` is the ground truth of
``evaluation.evaluate_posetrack`` / ``PoseTrackEvaluator``
(``builder.info.metadata["annotations"]["val"]``).
"""

from __future__ import annotations

import dataclasses
import pathlib
import shutil
import tempfile

import tensorflow_datasets as tfds

from sasmamba_jax.datasets.posetrack import posetrack_common as pc
from sasmamba_jax.datasets.synthetic_video_pose import render


@dataclasses.dataclass(eq=False)
class SyntheticVideoConfig(pc.VideoPoseConfig):
  """A ``VideoPoseConfig`` plus the renderer's sizes (``render.RenderConfig``)."""
  render: render.RenderConfig = dataclasses.field(default_factory=render.RenderConfig)


def _configs() -> list[SyntheticVideoConfig]:
  return [
      SyntheticVideoConfig(
          name="delta2", delta=2,
          description="24 train / 8 val videos of 30 frames, 160 x 120, 1-2 people; "
                      "T = 5."),
      SyntheticVideoConfig(
          name="tiny", delta=1,
          render=render.RenderConfig(num_videos=(("train", 2), ("val", 1)),
                                     frames_per_video=6, width=96, height=72,
                                     person_height=(45.0, 60.0), crowd_prob=1.0),
          description="2 train / 1 val videos of 6 frames, 96 x 72; T = 3 (tests)."),
  ]


class Builder(pc.VideoPoseBuilder):
  """Rendered PoseTrack18-format videos (see the module docstring)."""

  BUILDER_CONFIGS = _configs()
  DESCRIPTION = __doc__
  VERSION = tfds.core.Version("1.1.0")
  RELEASE_NOTES = {
      "1.0.0": "First release.",
      "1.1.0": "Left and right limbs in a warm and a cool hue: a single frame now "
               "tells the sides apart (1.0.0's per-frame models swapped a quarter "
               "of the joints).",
  }

  def release_dir(self) -> pathlib.Path:
    config = self.builder_config
    return (pathlib.Path(self.data_dir_root) / "synthetic_video_pose_release"
            / f"{config.name}-seed{config.render.seed}-v{self.VERSION}")

  def _split_generators(self, dl_manager):
    del dl_manager  # Nothing to download.
    root = self.release_dir()
    if not (root / "COMPLETE").is_file():
      # Render next to the target and rename: never a half-written release.
      root.parent.mkdir(parents=True, exist_ok=True)
      tmp = pathlib.Path(tempfile.mkdtemp(prefix=root.name + ".", dir=root.parent))
      try:
        render.write_release(tmp, self.builder_config.render)
        (tmp / "COMPLETE").write_text("rendered\n")
        if root.exists():
          shutil.rmtree(root)
        tmp.rename(root)
      finally:
        if tmp.exists():
          shutil.rmtree(tmp)
    return self._examples_from_root(root, f"{self.name}/{self.builder_config.name}")
