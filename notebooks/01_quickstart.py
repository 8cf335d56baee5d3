# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Quickstart: train and evaluate a small SasMamba
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/ORG/sasmamba_jax/blob/main/notebooks/01_quickstart.ipynb)
#
# This notebook builds the built-in `synthetic_motion` dataset (procedural
# Human3.6M-like motion with detector-like 2D input: nothing to download), trains
# the quickstart config (`configs/synthetic_sasmamba.py`, a 60k-parameter SasMamba)
# with the library's trainer, evaluates it with the Human3.6M protocol, and shows
# the loss curve, the per-action table and one test clip next to its ground truth.
#
# On a CPU the training takes about 10 minutes (2 cores), on a Colab GPU or TPU a
# few. It is the same job as `make train` or
# `python -m experiments.train --config=configs/synthetic_sasmamba.py --workdir=runs/quickstart`.

# %%
# Setup. On Colab: clone the repository and install the library, keeping the jax
# that Colab ships (its CPU, GPU or TPU build). Elsewhere: run from the repository
# with the library installed (`pip install -e .`).
import os
import pathlib
import subprocess
import sys

REPO_URL = "https://github.com/ORG/sasmamba_jax"
if "google.colab" in sys.modules:
  if not pathlib.Path("setup.cfg").exists():
    if not pathlib.Path("sasmamba_jax").exists():
      subprocess.run(["git", "clone", "--depth=1", REPO_URL], check=True)
    os.chdir("sasmamba_jax")
  # The preinstalled jax packages are pinned, so pip leaves them as they are.
  subprocess.run("pip freeze | grep -iE '^(jax|jaxlib|libtpu[a-z-]*|jax-cuda[0-9]+-"
                 "(plugin|pjrt))==' > /tmp/keep_jax.txt; pip install -q -e . "
                 "-c /tmp/keep_jax.txt", shell=True, check=True)
elif pathlib.Path.cwd().name == "notebooks":
  os.chdir("..")  # the repository root: configs/ and runs/ are relative to it

SMOKE = os.environ.get("SASMAMBA_SMOKE") == "1"  # tiny sizes, for CI
import jax

print(f"jax {jax.__version__}, backend {jax.default_backend()}, "
      f"devices {jax.devices()}" + (" (smoke mode)" if SMOKE else ""))

# %%
import json

from IPython.display import Image, Markdown, display
import numpy as np

from sasmamba_jax import cli, datasets, evaluation, inference, skeletons, train, viz

# %% [markdown]
# ## The config and the data
#
# Configs are plain Python files returning an `ml_collections.ConfigDict`;
# `cli.load_config_file` reads them as `--config=` does. The smoke variant
# (`:smoke`) only shrinks the sizes for CI.

# %%
CONFIG = "configs/synthetic_sasmamba.py" + (":smoke" if SMOKE else "")
WORKDIR = pathlib.Path("runs/quickstart_smoke" if SMOKE else "runs/quickstart")
config = cli.load_config_file(CONFIG)
options = {k: v for k, v in config.model.items() if k != "name" and v is not None}
print(f"model {config.model.name} {options}")   # unset options: the model's defaults
print(f"data {config.dataset.name}, batch {config.batch_size}, "
      f"{config.max_steps} steps, learning rate {config.optimizer.learning_rate}")

# %%
# Builds the dataset once (under $TFDS_DATA_DIR or ~/tensorflow_datasets).
builder = datasets.prepare(config.dataset.name)
print({split: info.num_examples for split, info in builder.info.splits.items()},
      "clips of", builder.info.metadata["num_frames"], "frames")

# %% [markdown]
# ## Train and evaluate
#
# The run directory keeps checkpoints, `metrics.jsonl`, TensorBoard events and the
# evaluations (`eval/step_N.json`). Running the cell again resumes the run, or
# returns its results when it has finished.

# %%
results = train.train_and_evaluate(config, WORKDIR)
print(f"P1 {results['p1_mm']:.1f} mm, P2 {results['p2_mm']:.1f} mm")

# %%
rows = [json.loads(line) for line in
        (WORKDIR / "metrics.jsonl").read_text().splitlines()]
steps, losses = zip(*[(r["step"], r["train/loss"]) for r in rows if "train/loss" in r])
viz.plot_curves({"train/loss": (steps, losses)}, title="training loss", log_y=True)

# %% [markdown]
# Per-action errors on the unseen test subjects (P1: MPJPE, P2: after Procrustes
# alignment, in millimetres):

# %%
display(Markdown(evaluation.format_h36m_table(results)))

# %% [markdown]
# ## One test clip next to its ground truth
#
# `inference.Lifter` runs the trained model on 2D keypoints (here a test clip of
# the dataset, already normalised). Left: the noisy 2D input; middle: the lifted
# 3D pose; right: the ground truth, at the same scale and turned 45 degrees.

# %%
lifter = inference.Lifter.load(WORKDIR)
clip = datasets.load(builder, "test")[0]
poses = lifter.lift_normalized(clip["input_2d"])  # (T, 17, 3) root-relative
root = skeletons.H36M.root
truth = clip["label_3d"] - clip["label_3d"][:, root:root + 1]
size = clip["camera_resolution"]
keypoints = datasets.denormalize_pixels(clip["input_2d"][..., :2],
                                        np.broadcast_to(size, (len(poses), 2)))
frames = viz.render_frames(poses, keypoints, size, width=1152, reference_3d=truth,
                           reference_label="ground truth")
gif = viz.save_animation(frames, WORKDIR / "test_clip.gif", fps=25)
print(f"action {clip['action'].decode()}: 2D input | prediction | ground truth")
display(Image(filename=str(gif)))
