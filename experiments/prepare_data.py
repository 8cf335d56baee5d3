"""Builds a dataset as TFDS array_record files (no TensorFlow needed).

  python -m experiments.prepare_data --dataset=synthetic_motion/clips_27
  python -m experiments.prepare_data --dataset=h36m/sh_243 --manual_dir=DIR
  python -m experiments.prepare_data --dataset=mpi_inf_3dhp/clips_81 \
      --manual_dir=DIR --data_dir=DIR

``--list`` prints every dataset/config name. Where each dataset's files come from:
see the README's datasets section or the error message when one is missing.
"""

from __future__ import annotations

import argparse
import sys

from sasmamba_jax import datasets


def main(argv: list[str] | None = None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--dataset", help="NAME/CONFIG, e.g. h36m/sh_243")
  parser.add_argument("--manual_dir", default=None,
                      help="folder with the downloaded files (h36m, mpi_inf_3dhp)")
  parser.add_argument("--data_dir", default=None,
                      help="where built datasets go (default ~/tensorflow_datasets)")
  parser.add_argument("--list", action="store_true", help="list dataset names")
  args = parser.parse_args(argv)
  if args.list:
    print("\n".join(datasets.dataset_names()))
    return 0
  if not args.dataset:
    parser.error("--dataset is required (see --list)")
  try:
    builder = datasets.prepare(args.dataset, data_dir=args.data_dir,
                               manual_dir=args.manual_dir)
  except (ValueError, FileNotFoundError) as e:
    print(f"error: {e}", file=sys.stderr)
    return 1
  splits = ", ".join(f"{name}: {split.num_examples} clips"
                     for name, split in builder.info.splits.items())
  print(f"{args.dataset} ready in {builder.data_dir} ({splits})")
  return 0


if __name__ == "__main__":
  sys.exit(main())
