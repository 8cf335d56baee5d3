"""Pictures of poses: 2D keypoints beside their 3D lift, as GIF, MP4 or PNG; line
plots (loss curves)."""

from sasmamba_jax.viz.plots import plot_curves
from sasmamba_jax.viz.render import VizError
from sasmamba_jax.viz.render import project_3d
from sasmamba_jax.viz.render import render_frames
from sasmamba_jax.viz.render import save_animation
from sasmamba_jax.viz.render import save_strip

__all__ = ["VizError", "plot_curves", "project_3d", "render_frames", "save_animation",
           "save_strip"]
