"""Benchmark of the video-pose data path (run by ``experiments.benchmark_video_pipeline``).

Two numbers: how long ``synthetic_video_pose`` takes to build (render the videos,
write them in the PoseTrack18 layout, read them back into array_record), and how
many top-down crops per second the training pipeline delivers (Pillow decoding of
the T JPEGs, one UDP crop of the person box on every frame, augmentation, UDP
heatmap targets, ImageNet normalisation, batching), in-process and with grain
worker processes.
"""

from __future__ import annotations

import tempfile
import time
from typing import Any, Sequence

from sasmamba_jax import datasets
from sasmamba_jax.benchmarking import common
from sasmamba_jax.codecs import HeatmapCodec
from sasmamba_jax.datasets import video_transforms


def run(config: str = "delta2", crop_size: Sequence[int] = (192, 256),
        workers: Sequence[int] = (0, 2), batch_size: int = 16, batches: int = 8,
        data_dir: str | None = None) -> dict[str, Any]:
  """Builds ``synthetic_video_pose/<config>`` and times the train pipeline.

  Args:
    config: the synthetic dataset's config.
    crop_size: crop (width, height).
    workers: grain worker process counts to time (0: in-process).
    batch_size: examples per batch.
    batches: batches timed after one warm-up batch.
    data_dir: where to build (default: a fresh temporary folder, so the build is
      timed from scratch).

  Returns:
    {"environment", "build", "results": [rows]}.
  """
  data_dir = data_dir or tempfile.mkdtemp(prefix="benchmark_video_pipeline_")
  start = time.perf_counter()
  builder = datasets.prepare(f"synthetic_video_pose/{config}", data_dir=data_dir)
  build_s = time.perf_counter() - start
  source = datasets.load(builder, "train")
  num_frames = 2 * builder.info.metadata["delta"] + 1
  build = {"config": config, "seconds": round(build_s, 2),
           "train_examples": len(source),
           "val_examples": len(datasets.load(builder, "val"))}
  rows = []
  for num_workers in workers:
    iterator = datasets.make_train_iterator(
        source, batch_size=batch_size, seed=0, num_workers=num_workers,
        transforms=[video_transforms.RandomTopDownClip(HeatmapCodec(crop_size))])
    next(iterator)  # start-up (worker processes) and warm-up
    start = time.perf_counter()
    for _ in range(batches):
      batch = next(iterator)
    seconds = time.perf_counter() - start
    examples = batches * batch_size
    rows.append({
        "config": config, "crop": f"{crop_size[1]}x{crop_size[0]}",
        "frames_per_example": num_frames, "workers": num_workers,
        "batch": batch_size, "examples_per_s": round(examples / seconds, 1),
        "crops_per_s": round(examples * num_frames / seconds, 1),
        "batch_images_shape": list(batch["images"].shape)})
  return {"environment": common.environment(), "build": build, "results": rows}
