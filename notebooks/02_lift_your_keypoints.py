# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Lift your own 2D keypoints to 3D
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/ORG/sasmamba_jax/blob/main/notebooks/02_lift_your_keypoints.ipynb)
#
# Your 2D detector (mmpose, AlphaPose, OpenPose, ...) wrote keypoints per frame;
# this notebook turns them into 3D poses per person with `sasmamba_jax.inference`:
# a COCO-format detections file -> tracks -> 3D -> animation, then the same from an
# `.npy` array, and how to read the outputs. The command-line equivalent is
# `python -m experiments.lift` (see `sasmamba_jax/inference/README.md`).
#
# Here the "detections" come from the library's synthetic motion generator, so
# that we know the true 3D pose; replace them with your own files.

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

from IPython.display import Image, display
import numpy as np

from sasmamba_jax import cli, inference, metrics, skeletons, train, viz
from sasmamba_jax.datasets import synthetic_motion_dataset_builder as synthetic

# %% [markdown]
# ## A lifter
#
# `CHECKPOINT` is any model source: a run directory of `experiments.train` (the
# quickstart notebook's `runs/quickstart`), a model directory of
# `experiments.export`, or an official PoseMamba / SasMamba checkpoint file
# (`best_epoch.bin`). Without one, the quickstart config is trained here first
# (about 10 minutes on a CPU). A model trained on the synthetic data is only a
# demo: for real videos use a model trained on Human3.6M (notebook 4).

# %%
CHECKPOINT = pathlib.Path("runs/quickstart_smoke" if SMOKE else "runs/quickstart")
if not CHECKPOINT.exists():
  print(f"{CHECKPOINT} not found: training the quickstart config into it")
  train.train_and_evaluate(cli.load_config_file(
      "configs/synthetic_sasmamba.py" + (":smoke" if SMOKE else "")), CHECKPOINT)
lifter = inference.Lifter.load(CHECKPOINT)
print(f"{lifter.model_name}: windows of {lifter.num_frames} frames every "
      f"{lifter.stride}, flip test {lifter.flip_test}")

# %% [markdown]
# ## Detections in COCO format
#
# A COCO keypoint results file is a JSON list with one entry per detected person
# and frame: `image_id` (the frame number, or a file name holding it),
# `category_id` 1, `keypoints` as `[x1, y1, score1, x2, ...]` in pixels in the
# COCO-17 order, and `score`. We write one for a synthetic person walking in a
# 1000 x 1002 video, and drop frames 30-34 as if the detector had missed them.
# Everything this notebook writes goes to `runs/lifting/` (git ignores `runs/`).

# %%
OUT = pathlib.Path("runs/lifting")
OUT.mkdir(parents=True, exist_ok=True)
NUM_FRAMES = 60 if SMOKE else 250
person = synthetic.sample_sequence("walking", NUM_FRAMES, seed=1)
coco = skeletons.h36m_to_coco(person["keypoints_2d"])  # (F, 17, 3) COCO order
missed = range(30, 35)
detections = [{"image_id": f, "category_id": 1, "keypoints": coco[f].ravel().tolist(),
               "score": 0.95} for f in range(NUM_FRAMES) if f not in missed]
(OUT / "detections.json").write_text(json.dumps(detections))
print(f"{len(detections)} detections; image size {person['image_size']}")

# %%
det = inference.read_keypoints(OUT / "detections.json")  # format, layout detected
print(f"format {det.format}, layout {det.layout}, {len(det.frames)} frames, "
      f"{det.num_people} detections")

# %% [markdown]
# `lift_detections` links detections into tracks (one per person), fills missed
# frames and low-score joints over time, converts COCO-17 to the H36M-17 layout the
# models use, lifts each track with overlapping windows and writes the results.
# COCO files do not record the image size: give it. `mm_per_pixel` (the person's
# distance to the camera / the focal length in pixels) adds millimetres; here we
# know it.

# %%
options = inference.LiftOptions(
    image_size=tuple(int(v) for v in person["image_size"]),
    mm_per_pixel=float(person["mm_per_pixel"].mean()))
output = inference.prepare_output(OUT / "lifted", overwrite=True)
summary = inference.lift_detections(det, lifter, output, options,
                                    input_name=str(OUT / "detections.json"), log=print)
track = summary["tracks"][0]
print(json.dumps(track, indent=1))

# %% [markdown]
# The animation shows the 2D input and the 3D pose (in millimetres, as the camera
# scale is known) turned 45 degrees over a ground grid; left limbs blue, right
# orange, filled joints ringed in yellow (frames 30-34 here):

# %%
display(Image(filename=str(output / track["files"][1])))

# %% [markdown]
# ## An interactive viewer
#
# `--render=html` (`LiftOptions(render="html")`) writes `track_<id>.html` per
# track and an `index.html` linking them: open them in any browser, offline. Drag
# the 3D pose to rotate it, scroll to zoom, play or scrub the frames; a URL ending
# in `#frame=40&azimuth=90` opens at that frame and view. `viz.viewer` builds the
# same page from arrays, and it shows inline here:

# %%
lifted = np.load(output / track["files"][0])
viz.viewer(lifted["poses_3d_mm"], lifted["keypoints_2d"], lifted["image_size"],
           filled=lifted["filled"], fps=float(lifted["fps"]),
           frame_numbers=lifted["frames"], units="mm", title=f"track {track['track']}")

# %% [markdown]
# ## Reading the outputs
#
# Each track is an `.npz` (see the table in `sasmamba_jax/inference/README.md`):
#
# * `poses_3d` (F, 17, 3): root-relative 3D in model units: image-aligned (x
#   right, y down, z away from the camera), 1 = half the image width;
# * `poses_3d_pixels`: the same in pixels; `poses_3d_mm`: millimetres (given
#   `mm_per_pixel`);
# * `keypoints_2d` (F, 17, 3): the H36M-order 2D and scores that were fed, after
#   filling; `filled` (F, 17) and `detected` (F,): what was filled;
# * `frames`: the input frame of each row; `joint_names`: the H36M-17 order.
#
# `summary.json` records the input, the model, the windows, the units and every
# track (or why a track was skipped).

# %%
result = np.load(output / track["files"][0])
for key in result.files:
  print(f"{key:16s} {result[key].shape} {result[key].dtype}")
print("frames detected:", int(result["detected"].sum()), "of", len(result["frames"]))
error = metrics.mpjpe(result["poses_3d_mm"], person["poses_3d_mm"][result["frames"]])
print(f"MPJPE against the synthetic ground truth: {float(error.mean()):.1f} mm")

# %% [markdown]
# ## The same from an `.npy` array
#
# An array of shape (F, J, 2 or 3) (or (P, F, J, 2 or 3) for several people) in
# pixels reads the same way; 17 joints could be COCO or H36M, so say which. On
# the command line:
#
# ```bash
# python -m experiments.lift --input=runs/lifting/keypoints.npy --layout=coco \
#     --checkpoint=runs/quickstart --output=runs/lifting/lifted_npy --image_size=1000,1002
# ```

# %%
np.save(OUT / "keypoints.npy", coco)
det_npy = inference.read_keypoints(OUT / "keypoints.npy", layout="coco")
summary_npy = inference.lift_detections(
    det_npy, lifter, inference.prepare_output(OUT / "lifted_npy", overwrite=True),
    inference.LiftOptions(image_size=options.image_size, render="none"), log=print)
poses = np.load(OUT / "lifted_npy" / summary_npy["tracks"][0]["files"][0])
print("poses_3d", poses["poses_3d"].shape)

# %% [markdown]
# To lift many people and long videos on a GPU, raise the batch of windows per call:
# `inference.Lifter.load(CHECKPOINT, batch_size=32)` (`--batch_size=32`).
