"""The video-pipeline benchmark builds, times and reports what the README quotes."""

from sasmamba_jax.benchmarking import video_pipeline as benchmark


def test_benchmark_runs(tmp_path):
  payload = benchmark.run("tiny", (48, 64), workers=(0,), batch_size=2, batches=1,
                          data_dir=str(tmp_path))
  assert payload["build"]["seconds"] > 0 and payload["build"]["train_examples"] > 0
  (row,) = payload["results"]
  assert row["crops_per_s"] == row["examples_per_s"] * 3 or row["crops_per_s"] > 0
  assert row["batch_images_shape"] == [2, 3, 64, 48, 3]
