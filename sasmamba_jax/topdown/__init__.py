"""Top-down 2D pose estimation: person boxes -> crops -> heatmaps -> image keypoints.

ViTPose's test path (UDP crops, flip test, UDP DARK decoding of the
``codecs.HeatmapCodec``) in JAX; see README.md.

  keypoints, scores = topdown.estimate_2d(model, image, boxes_xywh)
"""

from sasmamba_jax.imaging import valid_boxes
from sasmamba_jax.topdown.pipeline import estimate_2d, model_codec

__all__ = ["estimate_2d", "model_codec", "valid_boxes"]
