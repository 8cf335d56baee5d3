"""Lifts your own 2D keypoints to 3D (sasmamba_jax/inference/README.md).

  python -m experiments.lift --input=alphapose-results.json \\
      --checkpoint=runs/h36m_sasmamba --output=lifted --image_size=1920,1080
  python -m experiments.lift --input=openpose_json/ --checkpoint=exports/sasmamba \\
      --output=lifted --image_size=1280,720 --render=mp4
  python -m experiments.lift --input=keypoints.npz --layout=coco \\
      --checkpoint=checkpoint/sasmamba/best_epoch.bin --output=lifted --render=html
  python -m experiments.lift --video=clip.mp4 --boxes=detections.json \\
      --pose2d=vitpose-b.pth --checkpoint=exports/sasmamba --output=lifted

Writes DIR/<track>.npz (3D poses, the 2D used, what was filled), DIR/summary.json
and, unless --render=none, pictures per track: --render=gif (default) or mp4, an
animation and a PNG of four frames; png, only the PNG; html, an interactive viewer
per track (rotate the 3D pose, play and scrub; opens offline in any browser) and
DIR/index.html linking them.
"""

import pathlib
import time

from absl import flags

from sasmamba_jax import cli
from sasmamba_jax import inference
from sasmamba_jax import skeletons

_INPUT = flags.DEFINE_string(
    "input", None, "Keypoint file or folder: COCO results / AlphaPose / mmpose JSON, "
    "an OpenPose JSON folder, or .npy/.npz.")
_VIDEO = flags.DEFINE_string(
    "video", None, "Instead of --input: a video file or a folder of frames; the 2D "
    "keypoints come from --pose2d on the people of --boxes, and the renderings show "
    "the frames.")
_BOXES = flags.DEFINE_string("boxes", None, "With --video: COCO detection results "
                             "JSON of the person boxes (image_id = frame number or "
                             "frame file name).")
_BOX_SCORE = flags.DEFINE_float("box_score_threshold", 0.5, "With --video: boxes "
                                "scored below are ignored.")
_POSE2D = flags.DEFINE_string("pose2d", None, "With --video: the 2D model, an "
                              "official ViTPose checkpoint or a model directory.")
_CHECKPOINT = flags.DEFINE_string(
    "checkpoint", None, "A run directory of experiments.train (best checkpoint), a "
    "model directory of experiments.export, or an official PoseMamba / SasMamba file.")
_OUTPUT = flags.DEFINE_string("output", None, "Folder for the results.")
_FORMAT = flags.DEFINE_enum("format", "auto", ("auto",) + inference.FORMATS,
                            "Input format; auto detects it.")
_LAYOUT = flags.DEFINE_enum("layout", None, list(skeletons.SOURCE_LAYOUTS),
                            "Joint layout, when the joint count does not tell it "
                            "(17-joint arrays: coco or h36m).")
_IMAGE_SIZE = flags.DEFINE_list("image_size", None,
                                "W,H of the frames the keypoints come from (needed "
                                "unless the input file records it).")
_FPS = flags.DEFINE_float("fps", None, "Frame rate of the input (default: the "
                          "file's, else 25).")
_RENDER = flags.DEFINE_enum(
    "render", "gif", list(inference.RENDERS),
    "Pictures per track: gif (animation + PNG), mp4 (the same as H.264, needs the "
    "'viz' extra), png (four frames only), html (interactive 3D viewer + PNG, and "
    "index.html; open it in a browser, offline) or none.")
_RENDER_WIDTH = flags.DEFINE_integer("render_width", 1280, "Width of the GIF / MP4 "
                                     "/ PNG pictures in pixels (>= 320).")
_SCORE = flags.DEFINE_float("score_threshold", 0.3, "Joints scored below are "
                            "treated as missing and filled over time.")
_MIN_FRAMES = flags.DEFINE_integer("min_track_frames", 2, "Tracks spanning fewer "
                                   "frames are skipped (with a message).")
_MM = flags.DEFINE_float("mm_per_pixel", None, "Camera scale at the person: "
                         "distance to the camera (mm) / focal length (pixels); "
                         "adds poses_3d_mm.")
_STRIDE = flags.DEFINE_integer("stride", None, "Frames between window starts "
                               "(default: half the model's window).")
_BATCH = flags.DEFINE_integer("batch_size", 4, "Windows per model call (one compiled shape; larger helps on GPUs).")
_FLIP = flags.DEFINE_bool("flip_test", None, "Average with the mirrored input "
                          "(default: the run's setting, else on).")
_LATEST = flags.DEFINE_bool("latest", False, "A run's latest checkpoint instead of "
                            "its best.")
_OVERWRITE = flags.DEFINE_bool("overwrite", False, "Replace earlier results in "
                               "--output.")
flags.mark_flags_as_required(["checkpoint", "output"])


def _image_size():
  if _IMAGE_SIZE.value is None:
    return None
  try:
    w, h = (int(v) for v in _IMAGE_SIZE.value)
  except ValueError:
    raise cli.UsageError(f"--image_size={','.join(_IMAGE_SIZE.value)}: give W,H in "
                         "pixels, e.g. --image_size=1920,1080") from None
  return (w, h)


def main(argv):
  cli.reject_extra_args(argv)
  options = inference.LiftOptions(
      image_size=_image_size(), fps=_FPS.value, score_threshold=_SCORE.value,
      min_track_frames=_MIN_FRAMES.value, render=_RENDER.value,
      render_width=_RENDER_WIDTH.value, mm_per_pixel=_MM.value)
  options.validate()
  frames = None
  if (_INPUT.value is None) == (_VIDEO.value is None):
    raise cli.UsageError("give either --input (a keypoint file) or --video (with "
                         "--boxes and --pose2d)")
  if _VIDEO.value is not None:
    if _BOXES.value is None or _POSE2D.value is None:
      raise cli.UsageError("--video needs --boxes (person detections) and --pose2d "
                           "(a ViTPose checkpoint)")
    from sasmamba_jax.inference import video  # pylint: disable=g-import-not-at-top
    from sasmamba_jax import loading  # pylint: disable=g-import-not-at-top
    frames = video.read_frames(_VIDEO.value)
    boxes = video.read_boxes(_BOXES.value, frames,
                             score_threshold=_BOX_SCORE.value)
    pose2d = loading.load(_POSE2D.value)
    detections = video.detect_2d(pose2d, frames, boxes)
    if _FPS.value is None and frames.fps is None:
      print("frame rate unknown: rendering at 25 fps (--fps to set it)")
  else:
    detections = inference.read_keypoints(_INPUT.value, _FORMAT.value, _LAYOUT.value)
  if options.image_size is None and detections.image_size is None:
    raise cli.UsageError(f"{_INPUT.value}: {detections.format} files do not record "
                         "the image size; pass --image_size=W,H")
  output = inference.prepare_output(_OUTPUT.value, _OVERWRITE.value)
  start = time.perf_counter()
  lifter = inference.Lifter.load(_CHECKPOINT.value, latest=_LATEST.value,
                                 flip_test=_FLIP.value, stride=_STRIDE.value,
                                 batch_size=_BATCH.value)
  print(f"{detections.format} input, {detections.layout} layout, "
        f"{len(detections.frames)} frames, {detections.num_people} detections; "
        f"model {lifter.model_name} (window {lifter.num_frames})")
  summary = inference.lift_detections(
      detections, lifter, output, options, input_name=str(_INPUT.value or _VIDEO.value),
      frame_images=frames, log=print)
  print(f"{len(summary['tracks'])} track(s) lifted into {pathlib.Path(output)} in "
        f"{time.perf_counter() - start:.1f} s")
  if "index" in summary:
    print(f"open {(pathlib.Path(output) / summary['index']).resolve().as_uri()} in a "
          "browser to see them")


if __name__ == "__main__":
  cli.run(main)
