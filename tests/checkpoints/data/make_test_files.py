"""Regenerates the checkpoint test files in this folder (not run by the tests).

Step 1, in the project venv (JAX): official-layout state dicts of two tiny models,
with every value perturbed so that a transposed or misplaced tensor cannot pass:

  .venv/bin/python tests/checkpoints/data/make_test_files.py official

Step 2, in any venv with PyTorch (torch is not a dependency of the project):

  python tests/checkpoints/data/make_test_files.py torch

It writes real ``torch.save`` files of those state dicts in the shapes the official
training scripts save (PoseMamba: {'model_pos': {'module.' + key: tensor}, optimizer,
epoch, lr, min_loss}; SasMamba: {'model': ..., 'min_mpjpe', 'wandb_id', ...}), the
SasMamba one also unpacked as the ``best_epoch/{data.pkl, data/, version, byteorder}``
folder some downloads arrive as, and ``tensors.pth``: tensors of many dtypes, views,
shared storages and a Parameter, with ``tensors_expected.npz`` holding what
``torch.load(weights_only=True)`` returns for it (bfloat16 widened to float32).
"""

import pathlib
import sys
import zipfile

import numpy as np

HERE = pathlib.Path(__file__).resolve().parent


def official() -> None:
  sys.path.insert(0, str(HERE.parents[2]))
  from sasmamba_jax import models  # pylint: disable=g-import-not-at-top
  from sasmamba_jax.checkpoints import to_official  # pylint: disable=g-import-not-at-top
  rng = np.random.RandomState(0)
  for name, family in (("posemamba_tiny", "posemamba_s"), ("sasmamba_tiny", "sasmamba")):
    model = models.create(family, dim=4, depth=2, num_frames=5, seed=1)
    state = {k: (v + rng.uniform(-0.5, 0.5, v.shape)).astype(np.float32)
             for k, v in to_official(model).items()}
    np.savez(HERE / f"{name}_official.npz", **state)


def torch_files() -> None:
  import collections  # pylint: disable=g-import-not-at-top
  import torch  # pylint: disable=g-import-not-at-top
  load = lambda n: {k: torch.from_numpy(v) for k, v in np.load(HERE / n).items()}
  pose = load("posemamba_tiny_official.npz")
  model_pos = collections.OrderedDict((f"module.{k}", v) for k, v in pose.items())
  params = [torch.nn.Parameter(v.clone()) for v in model_pos.values()]
  opt = torch.optim.AdamW(params, lr=2e-4, weight_decay=0.01)
  for p in params:
    p.grad = torch.ones_like(p)
  opt.step()
  torch.save({"epoch": 7, "lr": 1.5e-4, "optimizer": opt.state_dict(),
              "model_pos": model_pos, "min_loss": 43.25}, HERE / "posemamba_tiny.pth")

  sas = collections.OrderedDict(load("sasmamba_tiny_official.npz"))
  torch.save({"epoch": 3, "lr": 5e-4, "model": sas,
              "min_mpjpe": np.float64(41.5), "wandb_id": None}, HERE / "best_epoch.bin")
  with zipfile.ZipFile(HERE / "best_epoch.bin") as zf:
    zf.extractall(HERE / "sasmamba_tiny_unpacked")
  (HERE / "best_epoch.bin").unlink()

  g = torch.Generator().manual_seed(0)
  base = torch.randn(4, 6, generator=g)
  tensors = {
      "f32": torch.randn(3, 5, generator=g),
      "f64": torch.randn(4, generator=g, dtype=torch.float64),
      "f16": torch.randn(2, 3, generator=g).half(),
      "bf16": torch.randn(2, 3, generator=g).bfloat16(),
      "i64": torch.arange(-5, 7).reshape(3, 4),
      "i32": torch.arange(6, dtype=torch.int32),
      "u8": torch.arange(250, 256, dtype=torch.uint8),
      "bool": torch.tensor([True, False, True]),
      "scalar": torch.tensor(2.5),
      "empty": torch.zeros(0, 3),
      "transposed": base.t(),  # Non-contiguous view, strides (1, 6).
      "row_slice": base[1:3],  # Offset into a shared storage.
      "col_slice": base[:, 2],
      "base": base,
      "param": torch.nn.Parameter(torch.randn(2, 2, generator=g)),
  }
  torch.save({"tensors": tensors, "meta": {"step": 3, "name": "x", "flags": (1, 2.0)}},
             HERE / "tensors.pth")
  loaded = torch.load(HERE / "tensors.pth", weights_only=True)["tensors"]
  np.savez(HERE / "tensors_expected.npz", **{
      k: (v.float() if v.dtype == torch.bfloat16 else v).detach().numpy()
      for k, v in loaded.items()})


if __name__ == "__main__":
  {"official": official, "torch": torch_files}[sys.argv[1]]()
