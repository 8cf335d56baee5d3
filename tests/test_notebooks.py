"""The notebooks: .ipynb in sync with their jupytext sources, and all of them run.

Execution uses smoke mode (SASMAMBA_SMOKE=1: tiny data, models and steps) in a
scratch folder, in order, so notebooks 2 and 3 reuse the run of notebook 1 as a user
running them one after the other would; notebooks 4 and 5 run apart, beside them. Compilation dominates the time: the kernels
share a JAX compilation cache and compile with XLA's CPU optimisations off (the
same programs, compiled faster; smoke numbers mean nothing anyway): about 90 s for
all four on the shared 2-core machine instead of 150 s.
"""

from __future__ import annotations

import json
import os
import pathlib

import pytest

jupytext = pytest.importorskip("jupytext", reason="needs the 'test' extra")
nbclient = pytest.importorskip("nbclient", reason="needs the 'test' extra")
nbformat = pytest.importorskip("nbformat", reason="needs the 'test' extra")
pytest.importorskip("ipykernel", reason="needs the 'test' extra")

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
SOURCES = sorted((REPO_ROOT / "notebooks").glob("[0-9]*.py"))


def _content(nb):
  """What a notebook holds, less cell ids and jupytext's in-memory format record."""
  meta = dict(nb.metadata)
  text = {k: v for k, v in meta.pop("jupytext", {}).items()
          if k != "text_representation"}
  if text:
    meta["jupytext"] = text
  return meta, [(c.cell_type, c.source, dict(c.metadata)) for c in nb.cells]


def test_every_notebook_is_generated_from_its_source():
  assert len(SOURCES) >= 5
  generated = sorted((REPO_ROOT / "notebooks").glob("*.ipynb"))
  assert [p.stem for p in generated] == [p.stem for p in SOURCES]
  for source in SOURCES:
    notebook = nbformat.read(source.with_suffix(".ipynb"), as_version=4)
    assert _content(notebook) == _content(jupytext.read(source)), (
        f"{source.with_suffix('.ipynb').name} is out of date: run `make notebooks`")
    code = [c for c in notebook.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code), (
        f"{source.name}: commit notebooks without outputs (`make notebooks`)")
    # The first code cell installs on Colab only and prints the devices.
    assert '"google.colab" in sys.modules' in code[0].source
    assert "jax.devices()" in code[0].source
    assert "colab.research.google.com/github/" in notebook.cells[0].source


def _outputs(nb, kind):
  return [o for c in nb.cells if c.cell_type == "code" for o in c.outputs
          if kind in o.get("data", {}) or kind in o.get("text", "")]


def _execute(names, tmp_path, monkeypatch):
  """Runs the notebooks ``names`` in order in one scratch checkout (as a user running
  them one after the other would); returns {name: executed notebook} and the folder."""
  work = tmp_path / "work"
  work.mkdir()
  (work / "configs").symlink_to(REPO_ROOT / "configs")  # as in a checkout
  monkeypatch.setenv("SASMAMBA_SMOKE", "1")
  monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path / "tfds"))
  monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
      [str(REPO_ROOT)] + [p for p in [os.environ.get("PYTHONPATH")] if p]))
  monkeypatch.setenv("JAX_COMPILATION_CACHE_DIR", str(tmp_path / "jax_cache"))
  monkeypatch.setenv("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
  monkeypatch.setenv("XLA_FLAGS", " ".join(
      [os.environ.get("XLA_FLAGS", ""), "--xla_backend_optimization_level=0",
       "--xla_llvm_disable_expensive_passes=true"]).strip())
  executed = {}
  for name in names:
    notebook = nbformat.read(REPO_ROOT / "notebooks" / f"{name}.ipynb", as_version=4)
    nbclient.NotebookClient(notebook, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(work)}}).execute()
    executed[name] = notebook
  return executed, work


# Two independent groups, so that the two test workers run them side by side.
@pytest.mark.slow
def test_lifting_notebooks_run_in_smoke_mode(tmp_path, monkeypatch):
  """Notebooks 1-3: 2 and 3 reuse the run of 1."""
  executed, work = _execute(["01_quickstart", "02_lift_your_keypoints",
                             "03_export_and_reuse"], tmp_path, monkeypatch)
  quickstart = executed["01_quickstart"]
  assert _outputs(quickstart, "image/png")  # the loss curve
  assert _outputs(quickstart, "image/gif")  # the test clip
  assert _outputs(quickstart, "text/markdown")  # the per-action table
  lifting = executed["02_lift_your_keypoints"]
  assert _outputs(lifting, "image/gif")
  assert any('title="pose viewer"' in "".join(o["data"]["text/html"])  # inline
             for o in _outputs(lifting, "text/html"))
  assert (work / "runs" / "lifting" / "lifted" / "summary.json").is_file()
  assert (work / "exports" / "quickstart_smoke_finetuned" / "config.json").is_file()
  # Everything the notebooks wrote is under git-ignored folders of the checkout.
  assert sorted(p.name for p in work.iterdir()) == ["configs", "exports", "runs"]


@pytest.mark.slow
def test_h36m_and_video_notebooks_run_in_smoke_mode(tmp_path, monkeypatch):
  """Notebooks 4 (Human3.6M) and 5 (video pose with GLSMamba)."""
  executed, work = _execute(["04_train_h36m", "05_video_pose_glsmamba"], tmp_path,
                            monkeypatch)
  # Without the Human3.6M files, their steps say so and are skipped.
  assert _outputs(executed["04_train_h36m"], "Skipped, the data is not there")
  video = executed["05_video_pose_glsmamba"]
  (table,) = ["".join(o["data"]["text/markdown"])
              for o in _outputs(video, "text/markdown")]  # baseline / GLSMamba
  assert table.startswith("smoke sizes: ") and "| GLSMamba " in table
  assert "these numbers say nothing about the models" in table and "&" not in table
  assert _outputs(video, "image/png")  # heatmaps and keypoints on a frame
  # make train-video's four stages (experiments.video_quickstart, smoke sizes).
  runs = work / "runs" / "video_smoke"
  comparison = json.loads((runs / "comparison.json").read_text())
  assert comparison["gain_total_map"] == pytest.approx(
      comparison["glsmamba"]["Total"] - comparison["baseline"]["Total"])
  assert comparison["gain_from_time"] == pytest.approx(
      comparison["glsmamba"]["Total"] - comparison["glsmamba_1frame"]["Total"])
  one = json.loads((runs / "glsmamba_1frame" / "config.json").read_text())
  assert one["model"]["num_frames"] == 1
  assert (runs / "backbone" / "model" / "model.safetensors").is_file()
  (step,) = sorted((runs / "eval").glob("step_*.json"))   # the GLSMamba run
  assert {"Head", "Ankle", "Total"} <= set(json.loads(step.read_text()))
  config = json.loads((runs / "config.json").read_text())
  assert config["task"]["backbone"]["checkpoint"] == "runs/video_smoke/backbone/model"
  baseline = json.loads((runs / "baseline" / "config.json").read_text())
  assert baseline["optimizer"]["freeze"] == ["^backbone/"]
  assert _outputs(video, "Skipped, the data is not there")  # PoseTrack
  # Everything the notebooks wrote is under git-ignored folders of the checkout.
  assert {p.name for p in work.iterdir()} <= {"configs", "exports", "runs"}
