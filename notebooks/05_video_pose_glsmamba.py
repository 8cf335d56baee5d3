# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Video pose with GLSMamba: the synthetic quickstart, heatmaps on the frames, PoseTrack
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/ORG/sasmamba_jax/blob/main/notebooks/05_video_pose_glsmamba.ipynb)
#
# GLSMamba estimates the 2D pose of a person in the centre frame of a short clip
# (T = 5 frames) from the features of a frozen ViTPose. This notebook runs the video
# quickstart (`make train-video`): it renders the built-in `synthetic_video_pose`
# videos (people whose joints are hidden, blurred or faded in some frames and not in
# their neighbours), trains a small ViTPose on single frames, then the per-frame
# baseline and GLSMamba on its frozen features (and GLSMamba on one frame, to tell
# the head's share of the gain from time's), and compares their PoseTrack mAP.
# Then it draws GLSMamba's heatmaps and keypoints on a validation frame, and shows
# how to run the PoseTrack recipes.

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

from IPython.display import Image as ShowImage, Markdown, display
import jax.numpy as jnp
import ml_collections
import numpy as np
from PIL import Image, ImageDraw

from experiments import video_quickstart
from sasmamba_jax import cli, datasets, imaging, loading
from sasmamba_jax.codecs import HeatmapCodec
from sasmamba_jax.datasets import video_transforms

# %% [markdown]
# ## The video quickstart
#
# Four runs of the library's trainer, each resumed when its folder already holds
# it: `WORKDIR/backbone` (ViTPose on single frames, exported to
# `WORKDIR/backbone/model`), `WORKDIR/baseline` (that backbone frozen, its own head
# trained on: the per-frame baseline), `WORKDIR/glsmamba_1frame` (GLSMamba built for
# one frame: the head without time) and `WORKDIR` itself (GLSMamba on clips of 5
# frames of the same frozen features, which it caches once per crop). On 2 CPU cores
# this takes about ten minutes; smoke mode shrinks everything to seconds (its
# numbers mean nothing).

# %%
WORKDIR = pathlib.Path("runs/video_smoke" if SMOKE else "runs/video")
comparison = video_quickstart.run(WORKDIR, smoke=SMOKE, progress=not SMOKE)
display(Markdown(video_quickstart.report(comparison, smoke=SMOKE)))

# %% [markdown]
# ## Heatmaps and keypoints on a validation frame
#
# `loading.load` reads the GLSMamba run (its frozen ViTPose included);
# the model takes a clip of T normalised crops of one person and returns the
# heatmaps of the centre frame. The run's heatmap codec (`task.codec`) crops the
# clip and turns the heatmaps into image pixels (UDP + DARK), as the evaluation does.

# %%
config = json.loads((WORKDIR / "config.json").read_text())
model = loading.load(WORKDIR)
source = datasets.load(config["dataset"]["name"], config["dataset"]["eval_split"])
width, height = config["task"]["input_size"]
hw = model.backbone.config.heatmap_size((height, width))
codec = HeatmapCodec.from_config(ml_collections.ConfigDict(config["task"]["codec"]),
                                 (width, height), hw[::-1])
crop = video_transforms.TopDownClip(codec)
example = dict(source[len(source) // 2])
example["video_id"] = example["video_id"].decode()
clip = crop.map(example)
heatmaps = np.asarray(model(jnp.asarray(clip["images"][None])))[0]   # (h, w, K)
keypoints, scores = codec.decode(heatmaps[None], clip["center"][None],
                                 clip["scale"][None])
keypoints, scores = np.asarray(keypoints)[0], np.asarray(scores)[0]

frames = video_transforms.decode_frames(example)          # (T, H, W, 3) uint8
centre = Image.fromarray(frames[len(frames) // 2]).convert("RGB")
draw = ImageDraw.Draw(centre)
truth = np.asarray(example["keypoints"])
for (x, y), s in zip(keypoints, scores):
  draw.ellipse([x - 2, y - 2, x + 2, y + 2], outline=(255, 64, 64), width=2)
for x, y, v in truth:
  if v > 0:
    draw.line([x - 2, y, x + 2, y], fill=(64, 255, 64))
    draw.line([x, y - 2, x, y + 2], fill=(64, 255, 64))
# The crop's centre frame with the heatmaps' maximum over joints laid over it.
crop_rgb = imaging.denormalize_images(clip["images"][len(frames) // 2])
heat = Image.fromarray((255 * np.clip(heatmaps.max(-1), 0, 1)).astype(np.uint8))
heat = heat.resize((width, height), Image.Resampling.BILINEAR)
overlay = np.asarray(Image.fromarray(np.clip(crop_rgb, 0, 255).astype(np.uint8)))
overlay = (0.5 * overlay + 0.5 * np.asarray(heat)[..., None] * np.array([1, 0.3, 0.3])
           ).astype(np.uint8)
scale = 3
panel = Image.new("RGB", (scale * (centre.width + width), scale * max(centre.height,
                                                                     height)))
panel.paste(centre.resize((scale * centre.width, scale * centre.height)), (0, 0))
panel.paste(Image.fromarray(overlay).resize((scale * width, scale * height)),
            (scale * centre.width, 0))
path = WORKDIR / "heatmaps.png"
panel.save(path)
print("left: predicted joints (red circles) and the ground truth (green crosses); "
      "right: the crop and the heatmaps' maximum over joints")
display(ShowImage(filename=str(path)))

# %% [markdown]
# ## On PoseTrack
#
# The paper's recipes are configs: `configs/posetrack17_glsmamba.py:b|h`,
# `posetrack18_glsmamba.py:b|h`, `posetrack21_glsmamba.py:b|h` and
# `sub_jhmdb_glsmamba.py:1|2|3`. Bring the PoseTrack release (images and
# annotations, after registering on its site), PoseWarper's `val_boxes.json` and the
# official COCO ViTPose weights, then build the dataset and train on a GPU or TPU:
#
# ```bash
# python -m experiments.prepare_data --dataset=posetrack18/delta2_detections --manual_dir=ROOT
# python -m experiments.train --config=configs/posetrack18_glsmamba.py:b \
#     --workdir=runs/posetrack18_glsmamba_b \
#     --config.task.backbone.checkpoint=checkpoints/vitpose_base_coco_256x192.pth
# python -m experiments.evaluate --config=configs/posetrack18_glsmamba.py:b \
#     --checkpoint=runs/posetrack18_glsmamba_b   # mAP + PoseTrack18 JSON predictions
# ```

# %%
POSETRACK_ROOT = pathlib.Path(os.environ.get("POSETRACK_ROOT", "data/posetrack18"))
recipe = cli.load_config_file("configs/posetrack18_glsmamba.py:b")
have = (POSETRACK_ROOT / "annotations").is_dir() and pathlib.Path(
    recipe.task.backbone.checkpoint).is_file()
if SMOKE or not have:
  print(f"Skipped, the data is not there: PoseTrack18 under {POSETRACK_ROOT} "
        f"(set POSETRACK_ROOT) and the ViTPose weights at "
        f"{recipe.task.backbone.checkpoint} (see the commands above).")
else:
  datasets.prepare(recipe.dataset.name, manual_dir=str(POSETRACK_ROOT))
  from sasmamba_jax import train  # pylint: disable=g-import-not-at-top
  print(train.train_and_evaluate(recipe, "runs/posetrack18_glsmamba_b"))
