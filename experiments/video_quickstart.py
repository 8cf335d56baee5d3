"""The video quickstart (``make train-video``): backbone, per-frame baseline, GLSMamba.

  python -m experiments.video_quickstart --workdir=runs/video
  python -m experiments.video_quickstart --workdir=runs/video_smoke --smoke  # seconds;
      # smoke numbers mean nothing (it says so)

Four runs of ``experiments.train`` on ``synthetic_video_pose`` (rendered first):
  WORKDIR/backbone   a small ViTPose trained on single frames
                     (configs/synthetic_vitpose_baseline.py:backbone), exported to
                     WORKDIR/backbone/model
  WORKDIR/baseline   that backbone frozen, its own head trained on
                     (configs/synthetic_vitpose_baseline.py): the per-frame baseline
  WORKDIR/glsmamba_1frame
                     GLSMamba built for T = 1 on the same frozen features
                     (configs/synthetic_glsmamba.py:1frame): the paper's per-frame
                     ablation, which tells the head's share from time's
  WORKDIR            GLSMamba, T = 5, on the same features (configs/synthetic_glsmamba.py)
then a comparison of their PoseTrack mAPs, also written to WORKDIR/comparison.json
(``gain_total_map``: GLSMamba - baseline; ``gain_from_time``: GLSMamba - its T = 1
version). Each run resumes when its folder already holds it, so an interrupted
quickstart continues where it stopped.
"""

import json
import pathlib

from absl import flags

from configs import synthetic_glsmamba
from configs import synthetic_vitpose_baseline
from sasmamba_jax import cli
from sasmamba_jax import evaluation
from sasmamba_jax import loading
from sasmamba_jax import train

_WORKDIR = flags.DEFINE_string("workdir", "runs/video", "Folder of the three runs.")
_SMOKE = flags.DEFINE_bool("smoke", False, "Tiny sizes (tests, notebooks): shows "
                           "that every stage runs; its numbers mean nothing.")
_DATA_DIR = flags.DEFINE_string("data_dir", "", "Built datasets ('' = TFDS default).")


def run(workdir: str | pathlib.Path, *, smoke: bool = False, data_dir: str = "",
        progress: bool = True) -> dict:
  """Runs the three stages in ``workdir``; returns the comparison."""
  workdir = pathlib.Path(workdir)
  suffix = "_smoke" if smoke else ""

  def prepare(config):
    config.dataset.data_dir = data_dir
    config.progress_bar = progress
    return config

  backbone_dir, model_dir = workdir / "backbone", workdir / "backbone" / "model"
  train.train_and_evaluate(
      prepare(synthetic_vitpose_baseline.get_config("backbone" + suffix)), backbone_dir)
  if not model_dir.is_dir():
    loading.save_pretrained(loading.load(backbone_dir), model_dir,
                           source={"checkpoint": str(backbone_dir)})
  results = {}
  for name, module, arg, folder in (
      ("baseline", synthetic_vitpose_baseline, "", workdir / "baseline"),
      ("glsmamba_1frame", synthetic_glsmamba, "1frame", workdir / "glsmamba_1frame"),
      ("glsmamba", synthetic_glsmamba, "", workdir)):
    config = prepare(module.get_config("_".join(filter(None, (arg, suffix[1:])))))
    config.task.backbone.checkpoint = str(model_dir)
    results[name] = train.train_and_evaluate(config, folder)
  comparison = {name: {k: r[k] for k in ("Head", "Shoulder", "Elbow", "Wrist", "Hip",
                                         "Knee", "Ankle", "Total")}
                for name, r in results.items()}
  comparison["gain_total_map"] = (comparison["glsmamba"]["Total"]
                                  - comparison["baseline"]["Total"])
  comparison["gain_from_time"] = (comparison["glsmamba"]["Total"]
                                  - comparison["glsmamba_1frame"]["Total"])
  (workdir / "comparison.json").write_text(json.dumps(comparison, indent=2) + "\n")
  return comparison


SMOKE_NOTE = ("smoke sizes: a few steps on tiny data show that every stage runs; "
              "these numbers say nothing about the models")


def report(comparison: dict, *, smoke: bool = False) -> str:
  """The comparison as a markdown table and the two gains (with ``smoke``, first
  the warning that smoke numbers mean nothing)."""
  c = comparison
  table = evaluation.format_posetrack_comparison(
      {"per-frame baseline": c["baseline"], "GLSMamba, one frame": c["glsmamba_1frame"],
       "GLSMamba": c["glsmamba"]})
  return "\n".join(
      ([f"{SMOKE_NOTE}.", ""] if smoke else [])
      + ["PoseTrack mAP (%) on the synthetic validation videos:", "", table, "",
         f"GLSMamba - per-frame baseline: {c['gain_total_map']:+.1f} mAP, of which "
         f"time (GLSMamba - GLSMamba on one frame): {c['gain_from_time']:+.1f}"])


def main(argv):
  cli.reject_extra_args(argv)
  c = run(_WORKDIR.value, smoke=_SMOKE.value, data_dir=_DATA_DIR.value)
  print(report(c, smoke=_SMOKE.value))
  print(f"written to {pathlib.Path(_WORKDIR.value) / 'comparison.json'}")


if __name__ == "__main__":
  cli.run(main)
