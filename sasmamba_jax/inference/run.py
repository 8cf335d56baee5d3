"""Lifting a keypoint file end to end: read, track, fill, lift, save, render.

``lift_detections`` writes, into an output folder:

* ``<track>.npz`` per lifted track: ``poses_3d`` (F, 17, 3) root-relative in model
  units, ``poses_3d_pixels`` and (camera scale given) ``poses_3d_mm``;
  ``keypoints_2d`` (F, 17, 3) the H36M pixels + score actually fed (after filling);
  ``filled`` (F, 17) bool; ``detected`` (F,) bool; ``scores`` (F,) person score;
  ``frames`` (F,) frame indices of the input; ``fps``; ``image_size``;
  ``joint_names``;
* ``summary.json``: input, format, layout, model, settings, units, and per track
  its frames, the share of filled joints and its files; skipped tracks with why;
  ``warnings``: what looked wrong in the input (keypoints far outside the image:
  probably another ``image_size``; joints beyond any plausible position, which are
  treated as missing and filled, counted in ``nonphysical_joints``);
* renderings per track when asked (``render``): ``gif`` / ``mp4``: ``<track>.gif``
  or ``.mp4`` and ``<track>.png`` (four frames of it); ``png``: only the PNG;
  ``html``: ``<track>.html`` (the interactive viewer of ``viz.html``, offline),
  the PNG, and ``index.html`` linking every track's page.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import pathlib
import re
import tempfile
from collections.abc import Callable
from typing import Any

import numpy as np
import tqdm

from sasmamba_jax import skeletons
from sasmamba_jax import viz
from sasmamba_jax.inference.formats import Detections
from sasmamba_jax.inference.lifter import Lifter
from sasmamba_jax.inference.tracks import drop_nonphysical
from sasmamba_jax.inference.tracks import link_tracks
from sasmamba_jax.inference.tracks import prepare_track

RENDERS = ("gif", "mp4", "png", "html", "none")
#: keypoints more than this share of the image size outside it are "far outside";
#: more than FAR_OUTSIDE_SHARE of the scored ones so placed: a warning
FAR_OUTSIDE_MARGIN = 0.5
FAR_OUTSIDE_SHARE = 0.05
#: skipped tracks named one by one in the log (all are in summary.json)
SKIPS_LOGGED = 5
UNITS = ("poses_3d: root-relative, image-aligned (x right, y down, z away from the "
         "camera), one unit = half the image width; poses_3d_pixels: the same in "
         "pixels; poses_3d_mm: millimetres (needs the camera scale)")


class LiftError(ValueError):
  """A lifting request that cannot be carried out; the message says why."""


@dataclasses.dataclass(frozen=True)
class LiftOptions:
  """Settings of ``lift_detections`` (the flags of ``experiments.lift``)."""

  image_size: tuple[int, int] | None = None  # (w, h); overrides the file's
  fps: float | None = None                   # overrides the file's; default 25
  score_threshold: float = 0.3               # joints below: missing, filled
  min_track_frames: int = 2                  # shorter tracks are skipped
  iou_threshold: float = 0.3                 # linker (when the file has no ids)
  max_gap: int = 10                          # linker: frames a track may miss
  render: str = "gif"                        # gif | mp4 | png | html | none
  render_max_frames: int = 600               # longer tracks: the first N frames
  render_width: int = 1280                   # pictures' width in pixels
  mm_per_pixel: float | None = None          # camera scale: distance / focal

  def validate(self) -> None:
    if self.render not in RENDERS:
      raise LiftError(f"render = {self.render!r}: one of {', '.join(RENDERS)}")
    if self.render_width < viz.render.MIN_WIDTH:
      raise LiftError(f"render_width = {self.render_width}: at least "
                      f"{viz.render.MIN_WIDTH} px")
    if self.render_max_frames < 1:
      raise LiftError(f"render_max_frames = {self.render_max_frames}: must be >= 1")
    if not 0 <= self.score_threshold <= 1:
      raise LiftError(f"score_threshold = {self.score_threshold}: must be in [0, 1]")
    if self.min_track_frames < 1:
      raise LiftError(f"min_track_frames = {self.min_track_frames}: must be >= 1")
    if self.image_size is not None and (len(self.image_size) != 2
                                        or min(self.image_size) <= 0):
      raise LiftError(f"image_size = {self.image_size}: must be W,H > 0")
    if self.fps is not None and not self.fps > 0:
      raise LiftError(f"fps = {self.fps}: must be > 0")
    if self.mm_per_pixel is not None and not self.mm_per_pixel > 0:
      raise LiftError(f"mm_per_pixel = {self.mm_per_pixel}: must be > 0")


def _safe_name(track_id: str) -> str:
  return "track_" + (re.sub(r"[^A-Za-z0-9_.-]+", "_", str(track_id)) or "x")


def _atomic_write(path: pathlib.Path, write: Callable[[Any], None], mode: str = "wb"
                  ) -> None:
  fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
  try:
    with os.fdopen(fd, mode) as f:
      write(f)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; results are ordinary files
    os.replace(tmp, path)
  except BaseException:
    pathlib.Path(tmp).unlink(missing_ok=True)
    raise


def prepare_output(output: str | pathlib.Path, overwrite: bool) -> pathlib.Path:
  """The output folder, refusing to mix with an earlier result unless asked."""
  output = pathlib.Path(output)
  if output.exists() and not output.is_dir():
    raise LiftError(f"--output={output} is a file; give a folder")
  if (output / "summary.json").exists() and not overwrite:
    raise LiftError(f"{output} already holds lifting results (summary.json); pass "
                    "--overwrite to replace them or choose another --output")
  output.mkdir(parents=True, exist_ok=True)
  return output


def lift_detections(det: Detections, lifter: Lifter, output: pathlib.Path,
                    options: LiftOptions, *, input_name: str = "",
                    frame_images: Callable[[int], np.ndarray | None] | None = None,
                    log: Callable[[str], None] = logging.info) -> dict[str, Any]:
  """Lifts every track of ``det`` and writes the outputs (module docstring).

  Args:
    det: detections read by ``formats.read_keypoints`` (or built by a 2D model).
    lifter: the 3D lifter.
    output: an existing folder (see ``prepare_output``).
    options: settings.
    input_name: recorded in the summary.
    frame_images: input frame index -> (H, W, 3) uint8 picture for renderings.
    log: where progress lines go.

  Returns:
    The summary (also written to ``output/summary.json``).
  """
  options.validate()
  size = options.image_size or det.image_size
  if size is None:
    raise LiftError(f"the image size is unknown: {det.format} files do not hold it; "
                    "pass --image_size=W,H (the size of the frames the keypoints "
                    "were detected on)")
  fps = options.fps or det.fps or 25.0
  pages = []
  _check_scores(det, options.score_threshold)
  det, dropped, example = drop_nonphysical(det, size)
  warned = []
  if dropped:
    warned.append(f"{dropped} joint(s) lie beyond any plausible position in a "
                  f"{size[0]}x{size[1]} image ({example}): treated as missing and "
                  "filled over time (marked in 'filled')")
  far = _far_outside(det, size, options.score_threshold)
  if far:
    warned.append(far)
  for line in warned:
    log(f"warning: {line}")
  tracks = link_tracks(det, iou_threshold=options.iou_threshold,
                       max_gap=options.max_gap)
  summary: dict[str, Any] = {
      "input": input_name, "format": det.format, "layout": det.layout,
      "model": lifter.model_name, "window": lifter.num_frames,
      "stride": lifter.stride, "flip_test": lifter.flip_test,
      "image_size": list(size), "fps": fps, "num_frames": len(det.frames),
      "score_threshold": options.score_threshold,
      "mm_per_pixel": options.mm_per_pixel, "units": UNITS,
      "joint_names": list(skeletons.H36M.joint_names), "tracks": [], "skipped": [],
      "warnings": warned, "nonphysical_joints": dropped,
  }

  def skip(track_id, reason):
    if len(summary["skipped"]) < SKIPS_LOGGED:
      log(f"skipping track {track_id}: {reason}")
    summary["skipped"].append({"track": track_id, "reason": reason})

  for track in tracks:
    name = _safe_name(track.track_id)
    span = track.span[1] - track.span[0] + 1
    if span < options.min_track_frames:
      skip(track.track_id, f"{span} frame(s), fewer than min_track_frames="
                           f"{options.min_track_frames}")
      continue
    try:
      prepared = prepare_track(track, det.layout,
                               score_threshold=options.score_threshold)
    except ValueError:
      skip(track.track_id, f"no joint scored >= {options.score_threshold} in any "
                           "frame")
      continue
    result = lifter.lift(prepared.keypoints, size, mm_per_pixel=options.mm_per_pixel)
    arrays = dict(poses_3d=result.poses_3d, poses_3d_pixels=result.poses_3d_pixels,
                  keypoints_2d=prepared.keypoints, filled=prepared.filled,
                  detected=prepared.detected, scores=prepared.scores,
                  frames=prepared.frames, fps=np.float32(fps),
                  image_size=np.asarray(size, np.int64),
                  joint_names=np.asarray(skeletons.H36M.joint_names))
    if result.poses_3d_mm is not None:
      arrays["poses_3d_mm"] = result.poses_3d_mm
    files = [f"{name}.npz"]
    _atomic_write(output / files[0], lambda f: np.savez(f, **arrays))
    if options.render != "none":
      poses, units = result.poses_3d, "model units"
      if result.poses_3d_mm is not None:
        poses, units = result.poses_3d_mm, "mm"
      rendered, still = render_track(prepared, poses, size, fps, output / name,
                                     options, frame_images, units=units)
      files += rendered
      if options.render == "html":
        pages.append({"file": rendered[0], "name": f"track {track.track_id}",
                      "thumbnail": still,
                      "info": f"frames {prepared.frames[0]}-{prepared.frames[-1]}, "
                              f"{100 * prepared.filled.mean():.1f}% joints filled"})
    entry = {"track": track.track_id, "first_frame": int(prepared.frames[0]),
             "last_frame": int(prepared.frames[-1]),
             "num_frames": int(len(prepared.frames)),
             "detected_frames": int(prepared.detected.sum()),
             "filled_joints": float(prepared.filled.mean()), "files": files}
    summary["tracks"].append(entry)
    log(f"track {track.track_id}: {entry['num_frames']} frames, "
        f"{100 * entry['filled_joints']:.1f}% joints filled -> {', '.join(files)}")
  skipped = summary["skipped"]
  if len(skipped) > SKIPS_LOGGED:
    log(f"... and {len(skipped) - SKIPS_LOGGED} more track(s) skipped (all listed "
        "in summary.json)")
  if not summary["tracks"]:
    shown = "; ".join(f"track {s['track']}: {s['reason']}"
                      for s in skipped[:SKIPS_LOGGED])
    more = (f"; and {len(skipped) - SKIPS_LOGGED} more"
            if len(skipped) > SKIPS_LOGGED else "")
    raise LiftError(f"no track could be lifted ({len(skipped)} skipped: {shown}"
                    f"{more}); lower --min_track_frames or --score_threshold")
  if pages:
    summary["index"] = viz.save_index(
        output, pages, title=f"lifted: {input_name or det.format}").name
  _atomic_write(output / "summary.json",
                lambda f: f.write(json.dumps(summary, indent=2) + "\n"), "w")
  return summary


def _check_scores(det: Detections, threshold: float) -> None:
  """Refuses detections of which no joint passes the score threshold."""
  scores = [p.keypoints[:, 2] for people in det.frames for p in people]
  best = max((float(np.max(np.nan_to_num(s, nan=-np.inf))) for s in scores if len(s)),
             default=float("nan"))
  if not best >= threshold:
    raise LiftError(
        f"no joint of any of the {len(scores)} detections scores >= "
        f"--score_threshold={threshold:g} (the highest score is {best:.3g}): "
        "nothing to lift; lower --score_threshold if the detector scores on another "
        "scale, or check its output")


def _far_outside(det: Detections, size: tuple[int, int], threshold: float
                 ) -> str | None:
  """A warning when many scored keypoints lie far outside the image (a wrong
  ``image_size``, most likely), else None."""
  points = [p.keypoints[p.keypoints[:, 2] >= threshold, :2]
            for people in det.frames for p in people]
  xy = np.concatenate(points) if points else np.zeros((0, 2))
  xy = xy[np.isfinite(xy).all(-1)]
  if not len(xy):
    return None
  w, h = size
  mx, my = FAR_OUTSIDE_MARGIN * w, FAR_OUTSIDE_MARGIN * h
  far = ((xy[:, 0] < -mx) | (xy[:, 0] > w + mx) | (xy[:, 1] < -my)
         | (xy[:, 1] > h + my))
  if far.sum() <= FAR_OUTSIDE_SHARE * len(xy):
    return None
  lo, hi = xy.min(0), xy.max(0)
  return (f"{int(far.sum())} of {len(xy)} keypoints lie far outside the {w}x{h} "
          f"image (they span x {lo[0]:.0f}..{hi[0]:.0f}, y {lo[1]:.0f}..{hi[1]:.0f}): "
          "the 3D poses will be wrong unless --image_size is the size of the frames "
          "the keypoints were detected on")


def render_track(track: Any, poses_3d: np.ndarray, size: tuple[int, int], fps: float,
                 stem: pathlib.Path, options: LiftOptions,
                 frame_images: Callable[[int], np.ndarray | None] | None = None, *,
                 units: str = "model units") -> tuple[list[str], Any]:
  """Writes the renderings of one track (``options.render``, module docstring).

  Returns:
    (the file names written, one picture of the track for an index page).
  """
  count = min(len(poses_3d), options.render_max_frames)
  images = None
  if frame_images is not None:
    images = lambda i: frame_images(int(track.frames[i]))
  common = dict(images=images, filled=track.filled[:count], fps=fps, units=units,
                frame_numbers=track.frames[:count], title=stem.name)
  files = []
  if options.render == "html":
    page = viz.viewer(poses_3d[:count], track.keypoints[:count], size,
                      image_width=min(384, options.render_width // 2),
                      source=f"{stem.name}: {count} of {len(poses_3d)} frames",
                      **common)
    files.append(page.save(stem.with_suffix(".html")).name)
  animate = options.render in ("gif", "mp4")
  rows = None if animate else np.unique(np.linspace(0, count - 1, min(4, count))
                                        .round().astype(int))
  # disable=None: no bar without a terminal (a log file gets no bar updates).
  with tqdm.tqdm(total=count if animate else len(rows), desc=f"render {stem.name}",
                 unit="frame", disable=True if count < 100 else None,
                 leave=False) as bar:
    pictures = viz.render_frames(poses_3d[:count], track.keypoints[:count], size,
                                 width=options.render_width, progress=bar.update,
                                 rows=rows, **common)
  if animate:
    anim = stem.with_suffix("." + options.render)
    viz.save_animation(pictures, anim, fps)
    files.append(anim.name)
  files.append(viz.save_strip(pictures, stem.with_suffix(".png")).name)
  return files, pictures[len(pictures) // 2]
