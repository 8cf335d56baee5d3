"""``deform_conv2d`` against torchvision's compiled kernel (../shared/fixtures/dcnv2).

Every case listed in the fixture's manifest is checked (the public set and any other
set with the same layout): stride, padding and dilation come from the manifest, the
groups from the weight's shape (torchvision's rule), the offset groups from the
offset's size. Output and the gradients of input, offset, mask, weight and bias of
loss = sum(out * w) within the fixture README's bars (1e-5 / 1e-4 of max-abs).
"""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from sasmamba_jax.nn import deform_conv2d
from tests.conftest import SHARED_FIXTURES

FIXTURE = SHARED_FIXTURES / "dcnv2"


def _cases():
  try:
    return sorted(json.loads((FIXTURE / "manifest.json").read_text())["cases"])
  except OSError:
    return ["fixture-absent"]


def _relative(a, b):
  return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-30))


def _nhwc(a):
  return jnp.asarray(np.asarray(a).transpose(0, 2, 3, 1))


@pytest.mark.parametrize("case", _cases())
def test_matches_torchvision(shared_fixtures, case):
  folder = shared_fixtures / "dcnv2"
  config = json.loads((folder / "manifest.json").read_text())["cases"][case]["config"]
  with np.load(folder / "dcnv2.npz") as f:
    data = {k[len(case) + 1:]: f[k] for k in f.files if k.startswith(case + "/")}
  weight = data["weight"]  # (Cout, C / groups, kh, kw)
  groups = data["input"].shape[1] // weight.shape[1]
  has_mask, has_bias = "mask" in data, "bias" in data
  args = {"x": _nhwc(data["input"]), "offset": _nhwc(data["offset"]),
          "weight": jnp.asarray(weight.transpose(2, 3, 1, 0))}
  if has_mask:
    args["mask"] = _nhwc(data["mask"])
  if has_bias:
    args["bias"] = jnp.asarray(data["bias"])
  w = _nhwc(data["w"])
  opts = dict(stride=tuple(config["stride"]), padding=tuple(config["padding"]),
              dilation=tuple(config["dilation"]), groups=groups)

  def loss(args):
    out = deform_conv2d(args["x"], args["offset"], args["weight"], args.get("bias"),
                        args.get("mask"), **opts)
    return jnp.sum(out * w), out

  (_, out), grads = jax.jit(jax.value_and_grad(loss, has_aux=True))(args)
  back = lambda a: np.asarray(a).transpose(0, 3, 1, 2)
  errors = {"out": _relative(back(out), data["out"]),
            "grad_input": _relative(back(grads["x"]), data["grad_input"]),
            "grad_offset": _relative(back(grads["offset"]), data["grad_offset"]),
            "grad_weight": _relative(np.asarray(grads["weight"]).transpose(3, 2, 0, 1),
                                     data["grad_weight"])}
  if has_mask:
    errors["grad_mask"] = _relative(back(grads["mask"]), data["grad_mask"])
  if has_bias:
    errors["grad_bias"] = _relative(np.asarray(grads["bias"]), data["grad_bias"])
  print(f"\n{case}: " + ", ".join(f"{k} {v:.1e}" for k, v in errors.items()))
  assert errors.pop("out") <= 1e-5
  assert max(errors.values()) <= 1e-4, errors
