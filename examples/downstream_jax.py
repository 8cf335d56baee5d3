"""A downstream JAX project using an exported lifter: plain-JAX inference inside its own
jitted function, then fine-tuning from the loaded weights.

  python -m experiments.export --checkpoint=runs/quickstart --output=exports/quickstart
  python examples/downstream_jax.py --model_dir=exports/quickstart

Without --model_dir it exports a small random SasMamba to a temporary folder first,
so the script runs on its own.
"""

from __future__ import annotations

import argparse
import pathlib
import tempfile

import jax
import jax.numpy as jnp
import numpy as np
import optax
import safetensors.numpy
from flax import nnx

import sasmamba_jax
from sasmamba_jax import models


def plain_jax(model_dir: pathlib.Path, clips: np.ndarray) -> np.ndarray:
  """Inference with jax + safetensors only: what a project without our library does."""
  weights = safetensors.numpy.load_file(str(model_dir / "model.safetensors"))
  forward = jax.export.deserialize((model_dir / "forward.jaxexport").read_bytes())

  @jax.jit
  def pelvis_height(weights, clips):  # The downstream project's own computation.
    poses = forward.call(weights, clips)          # (B, T, 17, 3), root-relative
    return poses[..., 10, 1] - poses[..., 0, 1]   # head above pelvis, per frame

  return np.asarray(pelvis_height(weights, clips))


def fine_tune(model_dir: pathlib.Path, clips: np.ndarray, targets: np.ndarray,
              steps: int) -> list[float]:
  """A few AdamW steps from the exported weights, with the library's NNX model."""
  model = sasmamba_jax.load_pretrained(model_dir)
  model.train()
  optimizer = nnx.Optimizer(model, optax.adamw(1e-3), wrt=nnx.Param)

  @nnx.jit
  def step(model, optimizer, clips, targets):
    def loss_fn(model):
      return jnp.mean(jnp.linalg.norm(model(clips) - targets, axis=-1))
    loss, grads = nnx.value_and_grad(loss_fn)(model)
    optimizer.update(model, grads)
    return loss

  return [float(step(model, optimizer, clips, targets)) for _ in range(steps)]


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--model_dir", type=pathlib.Path, default=None)
  parser.add_argument("--steps", type=int, default=5)
  args = parser.parse_args()
  model_dir = args.model_dir
  if model_dir is None:
    model_dir = pathlib.Path(tempfile.mkdtemp()) / "tiny_sasmamba"
    model = models.create("sasmamba", num_frames=9, dim=16, depth=2)
    model.eval()
    sasmamba_jax.save_pretrained(model, model_dir)
    print(f"exported a small random SasMamba to {model_dir}")
  import json  # pylint: disable=g-import-not-at-top
  meta = json.loads((model_dir / "config.json").read_text())
  _, _, joints, channels = meta["input"]["shape"]
  frames = meta["input"]["exported_forward_frames"]
  frames = 9 if frames == "T" else frames
  rng = np.random.default_rng(0)
  clips = rng.normal(size=(4, frames, joints, channels)).astype(np.float32)
  heights = plain_jax(model_dir, clips)
  print(f"plain JAX: pelvis-to-head heights of shape {heights.shape}")
  targets = rng.normal(size=(4, frames, joints, 3)).astype(np.float32) * 0.1
  losses = fine_tune(model_dir, clips, targets, args.steps)
  print("fine-tuning losses: " + ", ".join(f"{l:.4f}" for l in losses))


if __name__ == "__main__":
  main()
