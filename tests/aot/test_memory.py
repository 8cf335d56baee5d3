"""The memory plan: compiled memory at the config's batch, the largest batch that
fits (proven by compiles on both sides), FSDP's saving per device, the command."""

from __future__ import annotations

import pytest

from sasmamba_jax.aot import compile as aot
from sasmamba_jax.aot import memory
from sasmamba_jax.aot import plan_table
from sasmamba_jax.train import config as config_lib


def small_mlp():
  c = config_lib.base_config("lifting_3d")
  c.model.name = "mlp_baseline"
  c.model.width = 64
  c.model.num_stages = 1
  c.batch_size = 8
  return c


@pytest.mark.parametrize("name,curve", [
    ("linear", lambda b: 1000 + 10 * b),
    ("superlinear", lambda b: 1000 + 2 * b + b * b // 20),
    ("sublinear near the limit", lambda b: 1000 + 12 * b - (b * b) // 600),
    ("not monotone", lambda b: 1000 + 10 * b + (37 if b % 3 == 0 else 0)),
    ("steps", lambda b: 1000 + 200 * (b // 16)),
])
@pytest.mark.parametrize("devices", [1, 8])
def test_the_search_finds_a_fitting_batch_whose_next_does_not(monkeypatch, name,
                                                              curve, devices):
  """The search on memory curves of several shapes (compiles faked): a batch that
  fits, the next multiple of the device count does not, in a few compiles."""
  del name
  calls = []

  def fake_compile(config, target, *, batch_size, param_sharding):
    del config, target, param_sharding
    calls.append(batch_size)
    report = aot.Report("train", "m", "t", devices, "replicated", batch_size, 0.0,
                        curve(batch_size), 0, 0, 0, 100, 0, 0, 200)
    return None, report

  monkeypatch.setattr(aot, "compile_train_step", fake_compile)
  target = memory.targets_lib.Target("t", "cuda", "1x1x1", devices, 10**9, "fake")
  config = small_mlp()
  config.batch_size = 16
  for budget in (1500, 2900, 5000):
    calls.clear()
    plan = memory.plan(config, target, budget_bytes=budget, max_batch=4096)
    largest = plan.largest_batch
    assert largest % devices == 0
    assert largest == 0 or curve(largest) <= budget
    assert curve(largest + devices) > budget
    assert len(calls) == len(set(calls)) <= 14      # No batch compiled twice.
    assert plan.fits == (curve(16) <= budget)
  # Nothing above max_batch is compiled: at the config's batch, one compile.
  calls.clear()
  plan = memory.plan(config, target, budget_bytes=10**12, max_batch=16)
  assert calls == [16] and plan.largest_batch == 16


def test_a_real_plan_and_the_budget_note(cuda):
  config = small_mlp()
  plan = memory.plan(config, "h100", max_batch=32)
  assert plan.fits and plan.largest_batch == 32 and plan.compiles <= 3
  assert plan.at_largest.peak_bytes == plan.tried[32]
  assert "XLA_PYTHON_CLIENT_MEM_FRACTION=.95" in plan.note
  h100 = memory.targets_lib.get("h100")
  assert memory.budget_note(h100, plan.tried[32]) is None  # Within JAX's GPU pool.
  assert memory.budget_note(memory.targets_lib.get("v5e"), 16 * 10**9) is None


def test_fsdp_shards_parameters_and_optimizer_over_eight_gpus(cuda):
  config = small_mlp()
  _, replicated = aot.compile_train_step(config, "h100x8", param_sharding="replicated")
  _, fsdp = aot.compile_train_step(config, "h100x8", param_sharding="fsdp")
  assert replicated.num_devices == fsdp.num_devices == 8
  before = replicated.params_bytes + replicated.opt_state_bytes
  after = fsdp.params_bytes + fsdp.opt_state_bytes
  # Every large weight splits 8 ways; biases and norms of odd size stay whole.
  assert after < before / 4
  rows = [{"config": "c", "device": "h100x8", "param_sharding": m,
           "state_gb": b / 1e9} for m, b in (("replicated", before), ("fsdp", after))]
  plan_table._fsdp_savings(rows)
  assert rows[1]["fsdp_saves_fraction"] == pytest.approx(1 - after / before)


def test_plan_memory_command(cuda, tmp_path, capsys):
  """The entry point: a config file, a device, a budget; one row per sharding."""
  from absl import flags  # pylint: disable=g-import-not-at-top
  from absl.testing import flagsaver  # pylint: disable=g-import-not-at-top
  from experiments import plan_memory  # pylint: disable=g-import-not-at-top
  config_file = tmp_path / "small.py"
  config_file.write_text(
      "from sasmamba_jax.train.config import base_config\n"
      "def get_config():\n"
      "  c = base_config('lifting_3d')\n"
      "  c.model.name = 'mlp_baseline'\n"
      "  c.model.width = 64\n"
      "  c.model.num_stages = 1\n"
      "  c.batch_size = 8\n"
      "  return c\n")
  with flagsaver.flagsaver():
    flags.FLAGS(["plan_memory", f"--config={config_file}", "--device=h100,h100x8",
                 "--max_batch=8"])
    plan_memory.main(["plan_memory"])
  out = capsys.readouterr().out
  assert f"{config_file} on h100 (replicated):" in out
  assert "fits; the largest batch that fits is 8" in out   # --max_batch
  assert "| `" + str(config_file) + "` | h100 | replicated | 8 |" in out
  # Eight GPUs: the config's sharding searched, FSDP compiled for its saving.
  assert "| `" + str(config_file) + "` | h100x8 | replicated | 8 |" in out
  fsdp = [line for line in out.splitlines() if "| h100x8 | fsdp | 8 |" in line]
  assert len(fsdp) == 1 and fsdp[0].split("|")[-3].strip() == "-"
  assert "%)" in fsdp[0]     # What FSDP saves per device.


def test_the_quick_table_compiles_each_recipe_once_per_device(monkeypatch, tmp_path,
                                                              capsys):
  """``--table --nosearch --device=...``: every recipe config, one compile per row
  at its own batch, a search only where it does not fit (compiles faked), and
  ``--resume`` keeps finished configs."""
  from absl import flags  # pylint: disable=g-import-not-at-top
  from absl.testing import flagsaver  # pylint: disable=g-import-not-at-top
  from experiments import plan_memory  # pylint: disable=g-import-not-at-top
  calls = []

  def fake_compile(config, target, *, batch_size=None, param_sharding):
    calls.append((config.batch_size if batch_size is None else batch_size,
                  target.name, param_sharding))
    gb = {"sasmamba": 70, "posemamba_x": 90 * calls[-1][0] / config.batch_size
          }.get(config.model.name, 7)
    report = aot.Report("train", config.model.name, target.name, target.num_devices,
                        param_sharding, calls[-1][0], 0.0, gb * 10**9, 0, 0, 0, 100,
                        0, 0, 200)
    return None, report

  monkeypatch.setattr(aot, "compile_train_step", fake_compile)
  argv = ["plan_memory", "--table", "--nosearch", "--device=h100",
          f"--results_dir={tmp_path}"]
  with flagsaver.flagsaver():
    flags.FLAGS(argv)
    plan_memory.main(argv[:1])
  rows = __import__("json").loads((tmp_path / "plan_memory.json").read_text())["rows"]
  assert [r["config"] for r in rows] == [spec for spec, _ in plan_table.RECIPES]
  assert all(r["device"] == "h100" for r in rows)
  assert "| `configs/h36m_sasmamba.py` | h100 | replicated | 16 | 70.00 |" in (
      capsys.readouterr().out)
  # A config whose batch does not fit is searched: the row names the largest batch.
  x, = [r for r in rows if r["model"] == "posemamba_x"]
  assert not x["fits"] and 0 < x["largest_batch"] < x["batch"]
  assert 90 * (x["largest_batch"] + 1) / x["batch"] > 80 >= x["peak_gb_at_largest"]
  # One compile a row; the search goes on from that compile (none done twice).
  assert len(calls) == len(rows) - 1 + x["compiles"]
  for r in rows:
    if r is x:
      continue
    assert r["largest_batch"] is None
    # Only a step above JAX's default GPU pool (60 of 80 GB) needs the note.
    assert (r["note"] is not None) == (r["model"] == "sasmamba"), r
    assert r["note"] is None or "XLA_PYTHON_CLIENT_MEM_FRACTION=.95" in r["note"]
  # Resumed: nothing is compiled again.
  calls.clear()
  with flagsaver.flagsaver():
    flags.FLAGS(argv + ["--resume"])
    plan_memory.main(argv[:1])
  assert not calls
