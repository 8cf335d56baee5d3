"""SasMamba on MPI-INF-3DHP (official recipe: T = 27, ground-truth 2D + confidence 1).

Run:
  python -m experiments.prepare_data --dataset=mpi_inf_3dhp/clips_27 --manual_dir=DIR
  python -m experiments.train --config=configs/mpi_inf_3dhp_sasmamba.py --workdir=runs/sas_3dhp

Recipe (official repository akadjsam/sasmamba, configs/mpi/stridemamba_mpi_27.yaml
and train_3dhp.py): the H36M model with n_frames 27 and in_chans 3 (x, y and a
constant confidence of 1), MPI-INF-3DHP joint layout; lr 5e-4 x0.99 after each
epoch of ceil(N / 16) steps, batch 16, 300 epochs, early stopping after 41
evaluations without a better MPJPE (train_3dhp.py line 296); loss MPJPE + 0.5
N-MPJPE + 20 velocity; flip augmentation and flip test. Unlike the H36M loop, the
optimizer is torch.optim.Adam with amsgrad=True and no weight decay
(train_3dhp.py lines 206-208: the YAML's weight_decay 0.01 is not used), hence
``optimizer.amsgrad`` and weight decay 0 here. Evaluated with the official protocol
(MPJPE, PCK@150 mm, AUC on valid frames).
Expected: MPJPE in the mid-teens of mm (PoseMamba-S reports 17.8 mm at T = 27;
SasMamba's own figure was not available). Arg: the clip length, 27 (default), 81 or
243.
"""

from sasmamba_jax.train.config import base_config


def get_config(arg: str = "27"):
  if arg not in ("27", "81", "243"):
    raise ValueError(f"configs/mpi_inf_3dhp_sasmamba.py takes 27, 81 or 243, got {arg!r}")
  c = base_config("lifting_3d")
  c.dataset.name = f"mpi_inf_3dhp/clips_{arg}"
  c.task.skeleton = "mpi_inf_3dhp"
  c.task.protocol = "mpi_inf_3dhp"
  c.task.constant_confidence = True
  c.model.name = "sasmamba"
  c.model.num_frames = int(arg)
  c.batch_size = 16
  c.num_epochs = 300
  c.optimizer.amsgrad = True
  c.optimizer.weight_decay = 0.0
  c.early_stop_patience = 41
  return c
