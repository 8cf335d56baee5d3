"""Image geometry of top-down pose estimation: a leaf package (imports nothing of ours).

Box -> centre/scale, the UDP warp matrix and its inverse, affine crops (NumPy for
data-loader workers, JAX for the accelerator), left/right flips and ImageNet
normalisation. ``codecs``, ``datasets``, ``tasks`` and ``topdown`` build on it.
Coordinates are image pixels (x right, y down, pixel centres at integers); arrays are
channels-last. See sasmamba_jax/topdown/README.md.
"""

from sasmamba_jax.imaging.crop import crop_image, crop_images, invert_affine_jax
from sasmamba_jax.imaging.flip import (flip_heatmaps, flip_images, flip_keypoints,
                                       pairs_to_permutation)
from sasmamba_jax.imaging.geometry import (PIXEL_STD, affine_points, box_to_center_scale,
                                           crop_to_image, get_warp_matrix, invert_affine,
                                           valid_boxes, warp_matrix)
from sasmamba_jax.imaging.normalization import (IMAGENET_MEAN, IMAGENET_STD,
                                                denormalize_images, normalize_images)

__all__ = [
    "IMAGENET_MEAN", "IMAGENET_STD", "PIXEL_STD", "affine_points", "box_to_center_scale",
    "crop_image", "crop_images", "crop_to_image", "denormalize_images", "flip_heatmaps",
    "flip_images", "flip_keypoints", "get_warp_matrix", "invert_affine",
    "invert_affine_jax", "normalize_images", "pairs_to_permutation", "valid_boxes",
    "warp_matrix",
]
