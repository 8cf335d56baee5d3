"""Builds a dataset as TFDS array_record files (no TensorFlow needed).

  python -m experiments.prepare_data --dataset=synthetic_motion/clips_27
  python -m experiments.prepare_data --dataset=h36m/sh_243 --manual_dir=DIR
  python -m experiments.prepare_data --dataset=mpi_inf_3dhp/clips_81 \\
      --manual_dir=DIR --data_dir=DIR

``--list`` prints every dataset/config name. Where each dataset's files come from:
see sasmamba_jax/datasets/README.md or the error message when one is missing.
"""

from absl import flags

from sasmamba_jax import cli
from sasmamba_jax import datasets

_DATASET = flags.DEFINE_string("dataset", None, "NAME/CONFIG, e.g. h36m/sh_243.")
_MANUAL_DIR = flags.DEFINE_string(
    "manual_dir", None, "Folder with the downloaded files (h36m, mpi_inf_3dhp, "
    "posetrack17/18/21: the release root, sub_jhmdb: the JHMDB root, coco: the "
    "COCO 2017 root).")
_DATA_DIR = flags.DEFINE_string(
    "data_dir", None, "Where built datasets go (default ~/tensorflow_datasets).")
_LIST = flags.DEFINE_bool("list", False, "List the dataset names and exit.")


def main(argv):
  cli.reject_extra_args(argv)
  if _LIST.value:
    print("\n".join(datasets.dataset_names()))
    return
  if not _DATASET.value:
    raise ValueError("--dataset is required (see --list)")
  built = datasets.is_built(datasets.get_builder(_DATASET.value,
                                                data_dir=_DATA_DIR.value))
  builder = datasets.prepare(_DATASET.value, data_dir=_DATA_DIR.value,
                             manual_dir=_MANUAL_DIR.value)
  if built:  # Else prepare said what it built.
    print(f"{_DATASET.value} is already built in {builder.data_dir} "
          f"({datasets.split_sizes(builder)})")


if __name__ == "__main__":
  cli.run(main)
