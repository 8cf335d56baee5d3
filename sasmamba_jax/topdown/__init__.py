"""Top-down 2D pose estimation: person boxes -> crops -> heatmaps -> image keypoints.

ViTPose's test path (UDP crops, flip test, UDP DARK decoding) in JAX; see README.md.

  keypoints, scores = topdown.estimate_2d(model, image, boxes_xywh)
"""

from sasmamba_jax.imaging import box_to_center_scale, crop_images, warp_matrix
from sasmamba_jax.topdown.decode import decode_heatmaps
from sasmamba_jax.topdown.pipeline import estimate_2d, flip_test, valid_boxes

__all__ = ["box_to_center_scale", "crop_images", "decode_heatmaps", "estimate_2d",
           "flip_test", "valid_boxes", "warp_matrix"]
