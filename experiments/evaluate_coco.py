"""Evaluates an official ViTPose checkpoint on COCO val2017 (keypoint AP).

  python -m experiments.evaluate_coco --config=configs/coco_vitpose.py:b \\
      --config.checkpoint=vitpose_base_coco_256x192.pth --config.data.person_boxes=gt

See configs/coco_vitpose.py for the data keys and the expected numbers, and
sasmamba_jax/topdown/README.md for where to get the COCO files.
"""

from sasmamba_jax import cli
from sasmamba_jax.topdown import coco

_CONFIG = cli.define_config_flag("Config file: configs/coco_vitpose.py:b (or :h).")


def main(argv):
  cli.reject_extra_args(argv)
  coco.run(_CONFIG.value)


if __name__ == "__main__":
  cli.run(main)
