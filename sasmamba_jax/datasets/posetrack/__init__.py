"""PoseTrack-layout video-pose builders (posetrack18, posetrack21) and their reader."""
