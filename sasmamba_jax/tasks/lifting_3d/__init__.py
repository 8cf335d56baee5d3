"""3D pose lifting: 2D keypoint clips (B, T, J, 2|3) -> 3D pose clips (B, T, J, 3)."""
