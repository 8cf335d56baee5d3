# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Export a model and reuse it in your own JAX code
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/ORG/sasmamba_jax/blob/main/notebooks/03_export_and_reuse.ipynb)
#
# `save_pretrained` writes a model directory: `config.json`, `model.safetensors`,
# `forward.jaxexport` (the forward pass serialized with `jax.export`) and a model
# card. This notebook exports a model, calls it with plain JAX (no `sasmamba_jax`
# import needed), uses it inside a downstream jitted function, and fine-tunes it a
# few steps with optax. Command line: `python -m experiments.export`; script
# version: `examples/downstream_jax.py`; format: `sasmamba_jax/models/README.md`.

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

from flax import nnx
import jax.numpy as jnp
import numpy as np
import optax

import sasmamba_jax
from sasmamba_jax import datasets, models
from sasmamba_jax.datasets import synthetic_motion_dataset_builder as synthetic

# %% [markdown]
# ## Export
#
# `load_pretrained` reads any model source (a run directory, a model directory or
# an official checkpoint). We export the quickstart notebook's run when it is
# there; otherwise a small SasMamba with random weights, which shows the same
# mechanics (its outputs mean nothing).

# %%
RUN = pathlib.Path("runs/quickstart_smoke" if SMOKE else "runs/quickstart")
EXPORT = pathlib.Path("exports/quickstart_smoke" if SMOKE else "exports/quickstart")
if RUN.exists():
  model = sasmamba_jax.load_pretrained(RUN)  # the run's best checkpoint
  source = {"checkpoint": str(RUN)}
else:
  print(f"{RUN} not found (run notebook 1 first): exporting random weights")
  model = models.create("sasmamba", num_frames=27, dim=16, depth=2)
  source = {"checkpoint": "random initialisation"}
sasmamba_jax.save_pretrained(model, EXPORT, source=source)
for path in sorted(EXPORT.iterdir()):
  print(f"{path.name:20s} {path.stat().st_size:>10,} bytes")

# %%
meta = json.loads((EXPORT / "config.json").read_text())
print(json.dumps({k: meta[k] for k in ("model", "input", "output")}, indent=1))

# %% [markdown]
# ## Plain JAX
#
# A downstream project needs only `jax` and `safetensors`: the weights are a flat
# `{name: array}` dict and the forward takes `(weights, clips)`, clips of shape
# (B, T, 17, C) in the normalised screen coordinates of `config.json`. Here the
# clips come from the synthetic generator; the 3D truth is used for fine-tuning.

# %%
import safetensors.numpy

weights = safetensors.numpy.load_file(str(EXPORT / "model.safetensors"))
forward = jax.export.deserialize((EXPORT / "forward.jaxexport").read_bytes())
T = meta["input"]["exported_forward_frames"]
C = meta["input"]["shape"][-1]

person = synthetic.sample_sequence("jumping", 4 * T, seed=2)
size = np.broadcast_to(person["image_size"], (4 * T, 2))
inputs = np.concatenate([datasets.normalize_pixels(person["keypoints_2d"][..., :2], size),
                         person["keypoints_2d"][..., 2:]], -1)[..., :C]
clips = inputs.reshape(4, T, 17, C)                   # 4 clips of T frames
targets = person["poses_3d"].reshape(4, T, 17, 3)     # root-relative truth


@jax.jit
def head_height(weights, clips):
  """A downstream computation: the head's height above the pelvis, per frame."""
  poses = forward.call(weights, clips)  # (B, T, 17, 3)
  return poses[..., 0, 1] - poses[..., 10, 1]  # y points down


print("head above pelvis (model units), first frames:",
      np.round(np.asarray(head_height(weights, clips))[0, :5], 3))

# %% [markdown]
# ## Fine-tuning
#
# `load_pretrained` on the export gives the Flax NNX model back; `model.train()`
# switches dropout and stochastic depth on. A few AdamW steps on the clips:

# %%
STEPS = 3 if SMOKE else 50
model = sasmamba_jax.load_pretrained(EXPORT)
model.train()
optimizer = nnx.Optimizer(model, optax.adamw(1e-3), wrt=nnx.Param)


@nnx.jit
def train_step(model, optimizer, clips, targets):
  def loss_fn(model):
    return jnp.mean(jnp.linalg.norm(model(clips) - targets, axis=-1))  # MPJPE
  loss, grads = nnx.value_and_grad(loss_fn)(model)
  optimizer.update(model, grads)
  return loss


losses = [float(train_step(model, optimizer, jnp.asarray(clips), jnp.asarray(targets)))
          for _ in range(STEPS)]
print("MPJPE (model units) per step:", np.round(losses, 4))

# %%
model.eval()
sasmamba_jax.save_pretrained(model, EXPORT.with_name(EXPORT.name + "_finetuned"),
                             source={"checkpoint": str(EXPORT), "fine_tuned_steps": STEPS})
print("saved", EXPORT.with_name(EXPORT.name + "_finetuned"))
