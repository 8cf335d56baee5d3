"""The built-in video-pose dataset: rendered PoseTrack18-format videos."""
