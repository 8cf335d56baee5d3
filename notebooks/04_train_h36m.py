# ---
# jupyter:
#   accelerator: GPU
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Train on Human3.6M on a GPU or TPU
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/ORG/sasmamba_jax/blob/main/notebooks/04_train_h36m.ipynb)
#
# The official recipes on Human3.6M: preparing the data (from files you download
# yourself: the Human3.6M licence does not allow us to ship them), training,
# following the run in TensorBoard, and evaluating an official PoseMamba
# checkpoint. On Colab choose *Runtime > Change runtime type > GPU* (or TPU).
# Steps whose files are missing print why and are skipped.
#
# The same on the command line:
#
# ```bash
# python -m experiments.prepare_data --dataset=h36m/sh_243 --manual_dir=DIR
# python -m experiments.train --config=configs/h36m_sasmamba.py --workdir=runs/h36m_sasmamba
# python -m experiments.evaluate --config=configs/h36m_posemamba.py:s \
#     --checkpoint=checkpoint/pose3d/PoseMamba_S/best_epoch.bin
# ```

# %%
# Setup. On Colab: clone the repository and install the library, keeping the jax
# that Colab ships (its CPU, GPU or TPU build). Elsewhere: run from the repository
# with the library installed (`pip install -e .`, or `pip install -e '.[cuda12]'`
# for NVIDIA GPUs).
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
if jax.default_backend() == "cpu":
  print("No GPU/TPU: Human3.6M training at T = 243 is not practical on a CPU.")

# %%
from IPython.display import Markdown, display

from sasmamba_jax import checkpoints, cli, datasets, evaluation, models, train
from sasmamba_jax.train import evaluator

# %% [markdown]
# ## Where files live
#
# On Colab, keep the downloads, the built data and the runs on Google Drive: a
# runtime that is recycled then loses nothing, and running the training cell again
# resumes from the last checkpoint (saved every 5 minutes and at every evaluation).

# %%
COLAB = "google.colab" in sys.modules
if COLAB and not SMOKE:
  from google.colab import drive  # pylint: disable=g-import-not-at-top
  drive.mount("/content/drive")
# In a checkout everything stays under runs/ (git ignores it).
ROOT = pathlib.Path("/content/drive/MyDrive/sasmamba" if COLAB else "runs")
MANUAL_DIR = ROOT / "downloads"            # the files you bring
DATA_DIR = ROOT / "tensorflow_datasets"   # the built datasets
RUNS = ROOT / "runs" if COLAB else ROOT
print(f"downloads: {MANUAL_DIR}\nbuilt data: {DATA_DIR}\nruns: {RUNS}")

# %% [markdown]
# ## 1. The data
#
# | dataset | files to put in `MANUAL_DIR` | where to get them |
# |---|---|---|
# | `h36m/sh_243` (also `sh_81`, `sh_27`, `gt_*`) | `h36m_sh_conf_cam_source_final.pkl` | MotionBERT's [docs/pose3d.md](https://github.com/Walter0807/MotionBERT/blob/main/docs/pose3d.md), "Data", step 1 |
# | `h36m/cpn_243` (also `cpn_81`, `cpn_27`) | `data_3d_h36m.npz`, `data_2d_h36m_cpn_ft_h36m_dbb.npz` | VideoPose3D's [DATASETS.md](https://github.com/facebookresearch/VideoPose3D/blob/main/DATASETS.md) |
# | `mpi_inf_3dhp/clips_81` (also `_27`, `_243`) | `data_train_3dhp.npz`, `data_test_3dhp.npz` | [P-STMO](https://github.com/paTRICK-swk/P-STMO#mpi-inf-3dhp) |
#
# The Human3.6M and MPI-INF-3DHP licences apply (register at
# <http://vision.imar.ro/human3.6m/>). Building reads the files (never executes
# them) and writes array_record files; it runs once.

# %%
DATASET = "h36m/sh_243"
try:
  builder = datasets.prepare(DATASET, data_dir=DATA_DIR, manual_dir=MANUAL_DIR)
  HAVE_DATA = True
  print({split: info.num_examples for split, info in builder.info.splits.items()})
except datasets.MissingDataFileError as error:
  HAVE_DATA = False
  print(f"Skipped, the data is not there: {error}")

# %% [markdown]
# ## 2. The official recipe
#
# `configs/h36m_sasmamba.py` is SasMamba's recipe (dim 64, 5 pairs, T = 243,
# AdamW 5e-4, batch 16, 300 epochs, early stopping); `configs/h36m_posemamba.py:s`
# (`:b`, `:l`, `:x`) PoseMamba's. Any key can be changed before training, like
# `--config.KEY=VALUE` on the command line. On a TPU (8 cores) or several GPUs the
# batch is split over the devices (it must divide by their number); `compute_dtype
# = "bfloat16"` speeds training up on both (parameters stay float32).

# %%
config = cli.load_config_file("configs/h36m_sasmamba.py")
config.dataset.data_dir = str(DATA_DIR)
config.dataset.manual_dir = str(MANUAL_DIR)
if jax.default_backend() == "tpu":
  config.compute_dtype = "bfloat16"
options = {k: v for k, v in config.model.items() if k != "name" and v is not None}
print(f"model {config.model.name} {options}; {config.num_epochs} "
      f"epochs of batch {config.batch_size} over {jax.device_count()} device(s); "
      f"lr {config.optimizer.learning_rate}; loss {dict(config.task.loss)}")

# %% [markdown]
# ## 3. Train
#
# The run directory holds checkpoints (best and latest), `metrics.jsonl`,
# TensorBoard events and evaluations. Interrupt at any time: running the cell
# again resumes where it stopped, with the same data order.

# %%
WORKDIR = RUNS / "h36m_sasmamba"
if SMOKE:
  print("Skipped in smoke mode: training on Human3.6M takes hours on a GPU.")
elif not HAVE_DATA:
  print(f"Skipped: {DATASET} is not prepared (step 1).")
else:
  results = train.train_and_evaluate(config, WORKDIR)
  display(Markdown(evaluation.format_h36m_table(results)))

# %% [markdown]
# ## 4. TensorBoard
#
# Loss terms, learning rate, gradient norm, throughput and the evaluations are in
# `WORKDIR/tensorboard`. Elsewhere than Colab: `pip install tensorboard` and
# `tensorboard --logdir runs`.

# %%
if COLAB:
  get_ipython().run_line_magic("load_ext", "tensorboard")
  get_ipython().run_line_magic("tensorboard", f"--logdir {RUNS}")
else:
  print(f"tensorboard --logdir {RUNS}")

# %% [markdown]
# ## 5. Evaluate an official PoseMamba checkpoint
#
# Download PoseMamba-S's `best_epoch.bin` from the links in the
# [official repository](https://github.com/nankingjing/PoseMamba) (SasMamba's:
# [HuCui2022/sasmamba_pose_estimation](https://github.com/HuCui2022/sasmamba_pose_estimation))
# and put it at `OFFICIAL`. Files are read without torch and never executed. The
# architecture comes from the checkpoint's tensors; the config gives the data and
# the protocol. Expected for PoseMamba-S: P1 41.8 mm, P2 35.0 mm (paper).

# %%
OFFICIAL = ROOT / "checkpoint/pose3d/PoseMamba_S/best_epoch.bin"
if not OFFICIAL.exists():
  print(f"Skipped: {OFFICIAL} not found (download it as said above).")
else:
  model = checkpoints.load_official(OFFICIAL)
  print(f"{type(model).__name__}: {models.count_parameters(model):,} parameters")
  if SMOKE or not HAVE_DATA:
    print("Evaluation skipped: " + ("smoke mode" if SMOKE else f"{DATASET} missing"))
  else:
    official = evaluator.evaluate_checkpoint(
        cli.load_config_file("configs/h36m_posemamba.py:s"), OFFICIAL)
    display(Markdown(evaluation.format_h36m_table(official)))
