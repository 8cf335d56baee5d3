"""GLSMamba: parameter and FLOP counts of the variants, speed and memory per clip.

Counts (no running): for each variant (``glsmamba_b`` and the ablations of the paper's
ablation tables) the trainable parameters of the model and the multiply-accumulates
(MACs) of one clip, analytic, per layer: the paper's "GFLOPs" are MACs (thop's
convention; 5 x ViTPose-B alone is 92.5 G, so 138.9 G cannot be 2 x MACs), so
``total_gmacs`` = ViTPose backbone + deconvolutions for every frame (``vitpose_macs``)
+ the GLSMamba head. The head's count includes every linear and convolution layer,
the S6 projections of every route and the DCN's convolution; the selective-scan
recurrence and the DCN's bilinear sampling are listed apart (``scan_gmacs``,
``sampling_gmacs``: thop counts neither).

Timing (``run``): forward and forward+backward of one clip (B = 1) at the given
feature size, jitted, with XLA's memory estimate of each compiled function and,
optionally, XLA's FLOP count of a loop-free build (every scan one associative chunk;
XLA counts a while-loop body once) as a cross-check of the analytic count.

Pipeline (``run_pipeline``): the video task as it trains and evaluates, crops in:
``VideoPoseModel`` (frozen ViTPose + GLSMamba) of a ``pose_2d_video`` config with
``optimizer.freeze = ("^backbone/",)``, the trainer's own compiled train step on
random batches of the bound task's ``batch_spec`` (clips/s with the backbone's forward, and on
cached features, which skip it), and the jitted ``task.predict`` with the flip test
on and off (crops/s; a crop is one person's clip of T frames). The backbone is
random: speed does not depend on its weights.
"""

from __future__ import annotations

import dataclasses
import math
import time
from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from sasmamba_jax import tasks
from sasmamba_jax.benchmarking import common
from sasmamba_jax.models import registry
from sasmamba_jax.models import glsmamba
from sasmamba_jax.models.glsmamba import GLSMambaConfig
from sasmamba_jax.train import config as config_lib
from sasmamba_jax.train import evaluator as evaluator_lib
from sasmamba_jax.train import optimizers
from sasmamba_jax.train import sharding
from sasmamba_jax.train import trainer

# ViTPose backbones (docs/reference.md, ViTPose): (width, depth).
VITPOSE = {"vitpose_s": (384, 12), "vitpose_b": (768, 12), "vitpose_l": (1024, 24),
           "vitpose_h": (1280, 32)}

# The paper's Table 6 (ViT-B, PoseTrack2017 val): (params M, GFLOPs, mAP).
PAPER = {"full": (9.8, 138.9, 86.9), "unified": (9.1, 137.4, 85.8),
         "unified+space": (9.4, 138.1, 86.5), "no_stmm": (9.1, 137.4, 86.2)}

# Variant name -> (registry name, overrides, paper row or None).
VARIANTS: dict[str, tuple[str, dict[str, Any], str | None]] = {
    "glsmamba_b (full)": ("glsmamba_b", {}, "full"),
    "unified routes only": ("glsmamba_b", {"routes": ("unified",)}, "unified"),
    "unified + space-wise": ("glsmamba_b", {"routes": ("unified", "space")},
                             "unified+space"),
    "without STMM (sum)": ("glsmamba_b", {"stmm": False}, "no_stmm"),
    "without LRM": ("glsmamba_b", {"num_lrm": 0}, None),
    "T = 1 (per frame)": ("glsmamba_b", {"num_frames": 1}, None),
    "glsmamba_h": ("glsmamba_h", {}, None),
}


def vitpose_macs(backbone: str, image: tuple[int, int] = (256, 192), patch: int = 16,
                 padding: int = 2, deconv: Sequence[int] = (256, 256),
                 mlp_ratio: int = 4) -> int:
  """MACs of one frame through a ViTPose backbone and its two 4x4 deconvolutions.

  Patch embedding, per block qkv + projection + MLP (12 C^2 per token) and the two
  attention products (2 n^2 C), then ConvTranspose2d(k 4, s 2) layers (input pixels
  x C_in x C_out x 16). Norms, softmax and activations are not counted (thop's
  convention counts them as a few ops per element: < 0.5 %).
  """
  width, depth = VITPOSE[backbone]
  gh = (image[0] + 2 * padding - patch) // patch + 1
  gw = (image[1] + 2 * padding - patch) // patch + 1
  n = gh * gw
  macs = n * 3 * patch * patch * width
  macs += depth * (n * (4 + 2 * mlp_ratio) * width * width + 2 * n * n * width)
  cin, h, w = width, gh, gw
  for cout in deconv:
    macs += h * w * cin * cout * 16
    cin, h, w = cout, 2 * h, 2 * w
  return int(macs)


def head_macs(c: GLSMambaConfig, height: int, width: int) -> dict[str, int]:
  """MACs of one clip through the GLSMamba head, by part (see the module doc)."""
  t, d, e, n = c.num_frames, c.dim, c.inner, c.d_state
  r = math.ceil(e / 16)
  tokens = t * height * width
  hidden = int(glsmamba.MLP_RATIO * d)
  # The STMM's full 3 x 3 DCN (one offset group) and the 3 x 3 gate conv.
  k2, g2 = 3 ** 2, glsmamba.GATE_KERNEL ** 2
  route_proj = tokens * (e * (r + 2 * n) + r * e)
  block_layers = tokens * (3 * d * e + 2 * d * hidden + g2 * e)
  stages = len(c.routes) - 1 if c.stmm else 0
  offsets = tokens * 2 * e * k2 * 3 * k2
  dcn = tokens * k2 * e * e
  frame_hidden = 2 * t
  ca = t * 2 * d * max(1, d // glsmamba.CA_REDUCTION) + d * 2 * t * frame_hidden
  parts = {
      "embed": tokens * c.in_channels * d,
      "blocks": (c.num_gsm + c.num_lrm) * block_layers + c.num_gsm * ca,
      "route_projections": (c.num_gsm * 2 * len(c.routes) + c.num_lrm * 2) * route_proj,
      "stmm_offsets": c.num_gsm * stages * offsets,
      "stmm_dcn": c.num_gsm * stages * dcn,
      "head": height * width * d * c.num_keypoints * 9,
  }
  parts["layers"] = sum(parts.values())
  routes = c.num_gsm * 2 * len(c.routes) + c.num_lrm * 2
  parts["scan"] = routes * tokens * e * n * 3  # exp(dA) h + dB u, C . h
  parts["sampling"] = c.num_gsm * stages * tokens * k2 * e * 5  # 4 corners + mask
  return parts


def count_variant(label: str, *, height: int = 64, width: int = 48
                  ) -> dict[str, Any]:
  """Parameters and MACs of one entry of ``VARIANTS`` (no computation)."""
  name, overrides, paper = VARIANTS[label]
  config = registry.get_config(name, **overrides)
  params = registry.count_parameters(registry.create_abstract(name, **overrides))
  parts = head_macs(config, height, width)
  backbone = config.num_frames * vitpose_macs(config.backbone)
  row = {"variant": label, "params": params, "params_m": params / 1e6,
         "head_gmacs": parts["layers"] / 1e9,
         "backbone_gmacs": backbone / 1e9,
         "total_gmacs": (parts["layers"] + backbone) / 1e9,
         "scan_gmacs": parts["scan"] / 1e9, "sampling_gmacs": parts["sampling"] / 1e9,
         "parts_gmacs": {k: v / 1e9 for k, v in parts.items()}}
  if paper:
    row["paper_params_m"], row["paper_gflops"], row["paper_map"] = PAPER[paper]
  return row


def _xla_flops(compiled) -> float | None:
  analysis = compiled.cost_analysis()
  if isinstance(analysis, (list, tuple)):
    analysis = analysis[0] if analysis else None
  return float(analysis["flops"]) if analysis and "flops" in analysis else None


def bench_speed(name: str, *, frames: int, height: int, width: int, repeats: int,
                xla_flops: bool = False, **overrides: Any) -> dict[str, Any]:
  """Forward and forward+backward of one clip (B = 1): time and XLA memory."""
  model = registry.create(name, num_frames=frames, **overrides)
  c = model.config
  x = jnp.asarray(np.random.default_rng(0).normal(
      size=(1, frames, height, width, c.in_channels)).astype(np.float32))
  graphdef, params, rest = nnx.split(model, nnx.Param, ...)

  def forward(params, x):
    return nnx.merge(graphdef, params, rest)(x)

  def loss(params, x):
    return jnp.mean(forward(params, x) ** 2)

  row: dict[str, Any] = {"model": name, "frames": frames, "features": f"{height}x{width}",
                         "impl": c.impl, "params": registry.count_parameters(model)}
  for label, fn in (("forward", forward), ("forward_backward", jax.grad(loss))):
    start = time.perf_counter()
    compiled = jax.jit(fn).lower(params, x).compile()
    row[f"{label}_compile_s"] = time.perf_counter() - start
    mem = common.compiled_memory_bytes(compiled)
    row[f"{label}_mem_mib"] = mem["peak_estimate_bytes"] / 2**20 if mem else None
    timing = common.time_compiled(compiled, (params, x), repeats=repeats)
    row[f"{label}_ms"] = timing["median_s"] * 1e3
  # What a materialised scan would hold: one route's (L, E, N) float32 states.
  row["one_route_LEN_state_mib"] = (frames * height * width * c.inner * c.d_state * 4
                                    / 2**20)
  if xla_flops:
    loop_free = registry.loop_free_overrides(name, c, frames)
    counted = registry.create(name, num_frames=frames, **{**overrides, **loop_free})
    g2, p2, r2 = nnx.split(counted, nnx.Param, ...)
    compiled = jax.jit(lambda p, x: nnx.merge(g2, p, r2)(x)).lower(p2, x).compile()
    flops = _xla_flops(compiled)
    row["xla_gflops_loop_free"] = flops / 1e9 if flops else None
    row["analytic_head_gmacs"] = head_macs(c, height, width)["layers"] / 1e9
  return row


def run(*, frames: int, height: int, width: int, repeats: int, speed: bool = True,
        xla_flops: bool = False, **overrides: Any) -> dict[str, Any]:
  """Counts every variant, then times ``glsmamba_b``; returns the JSON payload."""
  counts = [count_variant(label) for label in VARIANTS]
  print(common.format_table(counts, ["variant", "params", "head_gmacs", "total_gmacs",
                                     "paper_params_m", "paper_gflops"]), flush=True)
  speed_rows = []
  if speed:
    speed_rows.append(bench_speed("glsmamba_b", frames=frames, height=height,
                                  width=width, repeats=repeats, xla_flops=xla_flops,
                                  **overrides))
  return {
      "environment": common.environment(),
      "settings": {"frames": frames, "features": [height, width], "batch": 1,
                   "repeats": repeats,
                   "overrides": {k: str(v) for k, v in overrides.items()}},
      "counts_note": ("params: trainable (nnx.Param) elements; *_gmacs: analytic "
                      "multiply-accumulates per clip (the paper's 'GFLOPs' "
                      "convention); backbone = num_frames x ViTPose backbone + 2 "
                      "deconvolutions at 256 x 192; scan and DCN sampling apart"),
      "counts": counts,
      "results": speed_rows,
  }


def pipeline_config(*, model: str = "glsmamba_b", backbone: str = "vitpose_b",
                    frames: int = 5, height: int = 256, width: int = 192,
                    batch: int = 1, **task_overrides: Any):
  """A validated ``pose_2d_video`` run config: ``model`` on a new ``backbone``.

  The family defaults (``configs/*_glsmamba.py``: frozen backbone, AdamW, flip
  test, DARK), crops ``height`` x ``width``; ``task_overrides`` set ``task`` keys
  (dotted for sub-sections: ``**{"codec.dark_kernel": 3}``).
  """
  c = config_lib.base_config("pose_2d_video")
  c.model.name = model
  c.model.num_frames = frames
  c.task.backbone.name = backbone
  c.task.backbone.checkpoint = ""     # a random ViTPose: speed needs no weights
  c.task.input_size = (width, height)
  c.task.update_from_flattened_dict(task_overrides)
  c.batch_size = c.eval_batch_size = batch
  return config_lib.validate(c)


def _time(fn, args, repeats: int) -> dict[str, Any]:
  """AOT compile (seconds, XLA memory), warm-up call, then ``repeats`` timed calls."""
  start = time.perf_counter()
  compiled = fn.lower(*args).compile()
  compile_s = time.perf_counter() - start
  mem = common.compiled_memory_bytes(compiled)
  timing = common.time_compiled(compiled, args, repeats=repeats)
  return {"ms": timing["median_s"] * 1e3, "seconds": timing["median_s"],
          "first_call_s": timing["warmup_s"], "compile_s": compile_s,
          "mem_estimate_mib": mem["peak_estimate_bytes"] / 2**20 if mem else None}


def bench_pipeline(*, model: str = "glsmamba_b", backbone: str = "vitpose_b",
                   frames: int = 5, height: int = 256, width: int = 192,
                   batch: int = 1, repeats: int = 1, train: bool = True,
                   evaluate: bool = True, **task_overrides: Any
                   ) -> list[dict[str, Any]]:
  """Train-step clips/s (crops in, cached features in) and eval crops/s.

  One row per measurement: ``mode`` train (the trainer's step: loss, gradients of
  the head, AdamW) or eval (``task.predict``: heatmaps, flip test, UDP + DARK
  decoding), ``input`` images (B, T, H, W, 3) or features (B, T, h, w, C).
  """
  if batch < 1 or repeats < 1:
    raise ValueError(f"bench_pipeline: batch ({batch}) and repeats ({repeats}) "
                     "must be >= 1")
  cfg = pipeline_config(model=model, backbone=backbone, frames=frames, height=height,
                        width=width, batch=batch, **task_overrides)
  task = tasks.create(cfg.task)
  mesh = sharding.make_mesh()
  net = sharding.create_sharded(
      lambda: task.build_model(cfg.model, rngs=nnx.Rngs(params=0, dropout=1),
                               dtype=cfg.compute_dtype), mesh, "replicated")
  bound = task.bind(net)
  base = {"model": model, "backbone": backbone, "frames": frames,
          "crop": f"{height}x{width}", "batch": batch}
  rows = []
  if train:
    ts = trainer.make_train_state(net, cfg.optimizer, mesh, steps_per_epoch=1000,
                                  total_steps=1000)
    count = lambda key: int(sum(x.size for x in jax.tree.leaves(ts.state.get(key))))
    for cached in (False, True):
      # As prepare_data leaves it with a feature cache: batches of features.
      train_bound = dataclasses.replace(bound, cached=cached)
      # As Trainer compiles it: gradients of the trainable (unfrozen) parameters.
      step_fn = jax.jit(trainer.make_train_step(
          ts.graphdef, ts.rest, train_bound, ts.tx, ts.schedule, jax.random.key(0),
          optimizers.trainable_filter(cfg.optimizer)))
      batch_arrays = {k: jnp.asarray(v) for k, v in common.random_batch(
          train_bound.batch_spec(batch)).items()}
      step = jnp.asarray(1, jnp.int32)
      timing = _time(step_fn, (ts.state, batch_arrays, step), repeats)
      row = dict(base, mode="train", input="features" if cached else "images",
                 trained_params=count("params"), frozen_params=count("frozen"),
                 **timing)
      row["clips_per_s"] = batch / timing["seconds"]
      print(common.format_table([row], list(row)), flush=True)
      rows.append(row)
  if evaluate:
    graphdef, rest, variables = evaluator_lib.split_model(net, cfg.optimizer.freeze)
    batch_arrays = {k: jnp.asarray(v) for k, v in common.random_batch(
        bound.batch_spec(batch)).items()}
    for flip in (True, False):
      eval_cfg = cfg.task.copy_and_resolve_references()
      eval_cfg.flip_test = flip
      eval_bound = tasks.create(eval_cfg).bind(net)
      predict = jax.jit(lambda v, b, t=eval_bound: t.predict(
          evaluator_lib.merge_model(graphdef, rest, v), b))
      timing = _time(predict, (variables, batch_arrays), repeats)
      row = dict(base, mode="eval", input="images", flip_test=flip, **timing)
      row["crops_per_s"] = batch / timing["seconds"]
      print(common.format_table([row], list(row)), flush=True)
      rows.append(row)
  return rows


def run_pipeline(*, model: str = "glsmamba_b", backbone: str = "vitpose_b",
                 frames: int = 5, height: int = 256, width: int = 192,
                 batch: int = 1, repeats: int = 1, **task_overrides: Any
                 ) -> dict[str, Any]:
  """``bench_pipeline``'s JSON payload (environment, settings, rows)."""
  cfg = pipeline_config(model=model, backbone=backbone, frames=frames, height=height,
                        width=width, batch=batch, **task_overrides)
  rows = bench_pipeline(model=model, backbone=backbone, frames=frames, height=height,
                        width=width, batch=batch, repeats=repeats, **task_overrides)
  return {
      "environment": common.environment(),
      "settings": {"mode": "pipeline", "model": model, "backbone": backbone,
                   "backbone_weights": "random (no checkpoint)",
                   "frames": frames, "crop": [height, width], "batch": batch,
                   "repeats": repeats, "freeze": list(cfg.optimizer.freeze),
                   "optimizer": "AdamW, learning rate {}, weight decay {}".format(
                       cfg.optimizer.learning_rate, cfg.optimizer.weight_decay),
                   "dark_kernel": cfg.task.codec.dark_kernel,
                   "task_overrides": {k: str(v) for k, v in task_overrides.items()}},
      "note": ("train: the trainer's jitted step (task loss, gradients of the head "
               "only, AdamW) after an AOT compile and one warm-up call, median of "
               "`repeats` calls; clips/s = batch / step. input images: the frozen "
               "ViTPose runs on the T crops; features: cached features "
               "(the bound task's cached mode), no backbone. eval: jitted task.predict (heatmaps, "
               "flip test, UDP + DARK decoding); crops/s = batch / call, a crop "
               "being one person's clip of T frames. mem_estimate_mib: XLA's "
               "static estimate (arguments + outputs + temporaries - aliases); "
               "the step is timed without the trainer's state donation, so its "
               "estimate counts the state (frozen backbone included) twice."),
      "results": rows,
  }


PIPELINE_COLUMNS = ["mode", "input", "flip_test", "model", "backbone", "frames",
                    "crop", "batch", "ms", "clips_per_s", "crops_per_s",
                    "mem_estimate_mib", "compile_s", "first_call_s"]
