"""Codecs: keypoints <-> what a model predicts (mmpose's ``codecs``).

``HeatmapCodec`` encodes training targets, decodes predictions (UDP + DARK, as
ViTPose) and runs the flip test; the data pipeline, the tasks and
``topdown.estimate_2d`` all take theirs from the config (``heatmap.default_config``).
"""

from sasmamba_jax.codecs.heatmap import HeatmapCodec

__all__ = ["HeatmapCodec"]
