"""Draws lift_frame.png, the frame shown in sasmamba_jax/inference/README.md.

  python docs/images/render_lift_frame.py

A person of the built-in synthetic motion generator walking, as `experiments.lift`
renders a track: the detector-like 2D input (the left wrist missed, so filled, in
frames 15-24) beside the 3D pose in millimetres (here the generator's truth).
"""

import pathlib

import numpy as np

from sasmamba_jax import skeletons
from sasmamba_jax import viz
from sasmamba_jax.datasets import synthetic_motion_dataset_builder as synthetic

FRAMES, SHOWN = 60, 20
OUT = pathlib.Path(__file__).resolve().parent / "lift_frame.png"


def main():
  person = synthetic.sample_sequence("walking", FRAMES, camera=0, seed=1)
  filled = np.zeros((FRAMES, 17), bool)
  filled[15:25, skeletons.H36M.index("left_wrist")] = True
  (picture,) = viz.render_frames(
      person["poses_3d_mm"], person["keypoints_2d"], person["image_size"],
      filled=filled, fps=float(person["fps"]), units="mm", title="track 0",
      rows=[SHOWN])
  # An adaptive palette: the picture has few colours, the PNG stays small.
  picture.quantize(colors=96).save(OUT, optimize=True)
  print(f"wrote {OUT} ({OUT.stat().st_size / 1024:.0f} kB)")


if __name__ == "__main__":
  main()
