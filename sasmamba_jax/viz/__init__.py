"""Pictures of poses: 2D keypoints beside their 3D lift as GIF, MP4 or PNG
(``render``), an interactive viewer in one offline HTML file (``html``), and line
plots (loss curves)."""

from sasmamba_jax.viz.html import Viewer
from sasmamba_jax.viz.html import save_index
from sasmamba_jax.viz.html import viewer
from sasmamba_jax.viz.plots import plot_curves
from sasmamba_jax.viz.render import VizError
from sasmamba_jax.viz.render import check_poses
from sasmamba_jax.viz.render import image_box
from sasmamba_jax.viz.render import layout
from sasmamba_jax.viz.render import project_3d
from sasmamba_jax.viz.render import render_frames
from sasmamba_jax.viz.render import save_animation
from sasmamba_jax.viz.render import save_strip

__all__ = ["Viewer", "VizError", "check_poses", "image_box", "layout", "plot_curves",
           "project_3d", "render_frames", "save_animation", "save_index", "save_strip",
           "viewer"]
