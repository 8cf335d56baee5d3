"""An interactive pose viewer in one self-contained HTML file, and an index page.

``viewer(...)`` builds a page with the 2D input beside the 3D pose: drag to rotate
the 3D view, wheel to zoom, double-click to reset; play / pause, a frame slider and
the arrow keys to step. It opens offline in any browser from ``file://``: the
poses are embedded as JSON, the drawing is ~300 lines of our own JavaScript on two
``<canvas>`` elements (``viewer.js`` beside this file), and a Content-Security-
Policy forbids every network request. ``Viewer`` objects display inline in Jupyter
and Colab (an ``<iframe srcdoc>``).

Why not plotly: plotly.js embedded for offline use adds 3-4 MB to every file
(tens of MB for a folder of tracks), its 3D scenes need WebGL (absent in many
headless, remote-desktop and VM browsers: the page stays blank there), and it
would be a new dependency. The canvas viewer needs none, weighs about 20 kB plus
0.6 kB per frame of 17 joints (350 kB for 600 frames; embedded video frames add
10-25 kB each), draws in any browser and matches the Pillow pictures of
``viz.render`` (same colours, ground grid, axes and notes).

A URL fragment sets the state, to share a view or to script it:
``track_0.html#frame=120&azimuth=90&elevation=10&zoom=1.5`` (``frame`` counts rows
from 0; ``play=1`` starts playing); ``window.poseViewer.setFrame(n)`` too.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
import html
import importlib.resources
import io
import json
import math
import pathlib
from typing import Any

import numpy as np
from PIL import Image

from sasmamba_jax import skeletons
from sasmamba_jax.viz.render import VizError
from sasmamba_jax.viz.render import as_tracks
from sasmamba_jax.viz.render import check_poses

# Every network request is refused: the page must work from the file alone.
_CSP = ("default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
        "img-src data:")

_STYLE = """
body { margin: 0; background: #18181c; color: #e8e8ec;
       font: 14px system-ui, sans-serif; }
header { display: flex; flex-wrap: wrap; align-items: center; gap: 8px 24px;
         padding: 10px 14px; }
header h1 { font-size: 18px; font-weight: 600; margin: 0; }
#frame-label { font-size: 16px; font-variant-numeric: tabular-nums; }
.legend { margin-left: auto; display: flex; gap: 16px; align-items: center; }
.legend i { display: inline-block; width: 24px; height: 4px; margin-right: 6px;
            vertical-align: middle; border-radius: 2px; }
.legend i.ring { width: 10px; height: 10px; border: 2px solid rgb(255,221,87);
                 border-radius: 50%; background: none; }
main { display: flex; flex-wrap: wrap; gap: 8px; padding: 0 8px; }
section { flex: 1 1 420px; background: rgb(33,34,40); min-width: 0; }
section h2 { font-size: 15px; font-weight: 500; margin: 8px 10px 2px;
             display: flex; justify-content: space-between; }
section h2 small { color: #989aa2; font-weight: 400; font-size: 12px; }
canvas { display: block; width: 100%; height: min(62vh, 560px); }
#view-3d { cursor: grab; touch-action: none; }
.notes { color: rgb(255,190,70); margin: 2px 10px; min-height: 0; }
.notes div { margin: 2px 0; }
.controls { display: flex; align-items: center; gap: 10px; padding: 10px 14px; }
.controls input[type=range] { flex: 1; accent-color: #8a8d99; }
button, select { background: #2c2e36; color: #e8e8ec; border: 1px solid #50535e;
                 border-radius: 4px; padding: 4px 10px; font: inherit; }
.help { color: #989aa2; padding: 0 14px 10px; font-size: 12px; }
"""

_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{csp}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="sasmamba_jax.viz.html">
<title>{title}</title><style>{style}</style></head>
<body>
<header><h1>{title}</h1><span id="frame-label"></span>
<span class="notes" id="frame-note"></span>
<span class="legend"><span><i style="background:rgb(66,135,245)"></i>left</span>
<span><i style="background:rgb(245,110,66)"></i>right</span>
<span><i style="background:rgb(205,205,205)"></i>centre</span>
<span><i class="ring"></i>filled joint (not detected)</span></span></header>
<div class="notes">{notes_all}</div>
<main>
<section><h2>2D input <small>{image_w} x {image_h} px</small></h2>
<div class="notes">{notes_2d}</div><canvas id="view-2d"></canvas></section>
<section><h2>3D ({units}) <small id="view-angle"></small></h2>
<div class="notes">{notes_3d}</div><canvas id="view-3d"></canvas></section>
</main>
<div class="controls">
<button id="previous" title="previous frame (left arrow)">&#9664;&#9664;</button>
<button id="play" title="play / pause (space)">&#9654; play</button>
<button id="next" title="next frame (right arrow)">&#9654;&#9654;</button>
<input type="range" id="frame-slider" min="0" max="0" value="0" aria-label="frame">
<select id="speed" aria-label="speed"><option value="0.25">0.25x</option>
<option value="0.5">0.5x</option><option value="1" selected>1x</option>
<option value="2">2x</option></select>
<button id="reset-view">reset view</button></div>
<div class="help">3D: drag to rotate, wheel to zoom, double-click to reset the view.
Space plays or pauses; arrow keys step. x right, y up, z away from the camera; the
grid lies at the lowest joint. {source}</div>
<script type="application/json" id="pose-data">{data}</script>
<script>{script}</script>
</body></html>
"""


def _script() -> str:
  return (importlib.resources.files("sasmamba_jax.viz") / "viewer.js").read_text(
      encoding="utf-8")


def _decimals(values: np.ndarray, significant: int = 4) -> int:
  """Decimals that keep ``significant`` digits of the largest magnitude."""
  top = float(np.abs(values).max()) if values.size else 0.0
  if not top > 0:
    return 0
  return max(0, significant - 1 - math.floor(math.log10(top)))


def _flat(values: np.ndarray, decimals: int) -> list[float | int]:
  rounded = np.round(values.astype(np.float64).ravel(), decimals)
  return [int(v) for v in rounded] if decimals == 0 else rounded.tolist()


def _jpeg_uri(frame: np.ndarray, width: int) -> str:
  picture = Image.fromarray(np.asarray(frame, np.uint8)).convert("RGB")
  if picture.width > width:
    picture = picture.resize((width, max(1, round(picture.height * width /
                                                  picture.width))), Image.BILINEAR)
  buffer = io.BytesIO()
  picture.save(buffer, "JPEG", quality=72)
  return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode()


class Viewer:
  """A built viewer page: ``save(path)``, ``.html``; shows inline in notebooks."""

  def __init__(self, page: str, height: int = 760):
    self.html = page
    self.height = height

  def save(self, path: str | pathlib.Path) -> pathlib.Path:
    path = pathlib.Path(path)
    tmp = path.with_name(f".{path.name}.partial")
    tmp.write_text(self.html, encoding="utf-8")
    tmp.replace(path)
    return path

  def _repr_html_(self) -> str:
    return (f'<iframe srcdoc="{html.escape(self.html, quote=True)}" '
            f'style="width:100%;height:{self.height}px;border:0" '
            'title="pose viewer"></iframe>')


def viewer(poses_3d: np.ndarray, keypoints_2d: np.ndarray,
           image_size: Sequence[float], *, filled: np.ndarray | None = None,
           fps: float | None = None, frame_numbers: Sequence[int] | None = None,
           units: str = "model units", title: str = "pose viewer",
           images: Callable[[int], np.ndarray | None] | None = None,
           image_width: int = 384, azimuth_deg: float = 45.0,
           elevation_deg: float = 15.0, source: str = "",
           skeleton: skeletons.Skeleton = skeletons.H36M) -> Viewer:
  """Builds the interactive page of one sequence (module docstring).

  Args:
    poses_3d: (F, J, 3) root-relative 3D poses, image-aligned (x right, y down,
      z away from the camera), in ``units``.
    keypoints_2d: (F, J, 2+) 2D keypoints in the pixels of ``image_size``.
    image_size: (width, height) of the keypoints' image.
    filled: (F, J) bool, joints filled (not detected): ringed.
    fps: frames per second (playback speed and the time shown; default 25).
    frame_numbers: (F,) input frame number of each row (default 0..F-1).
    units: of ``poses_3d``, named on the 3D axes.
    title: the page's title.
    images: frame index -> (H, W, 3) uint8 video frame, embedded as JPEG
      ``image_width`` px wide under the 2D pose (about 10-20 kB a frame).
    azimuth_deg, elevation_deg: the initial 3D view.
    source: a line naming where the data came from, shown under the controls.
    skeleton: the joint layout.

  Returns:
    A ``Viewer``.
  """
  poses_3d, keypoints_2d = as_tracks(poses_3d, keypoints_2d, skeleton, "viewer")
  frames, joints = poses_3d.shape[:2]
  if not (np.all(np.isfinite(poses_3d)) and np.all(np.isfinite(keypoints_2d))):
    raise VizError("viewer: the poses hold NaN or infinite values")
  if filled is not None:
    filled = np.asarray(filled, bool)
    if filled.shape != (frames, joints):
      raise VizError(f"viewer: filled has shape {filled.shape}, expected "
                     f"{(frames, joints)}")
  numbers = np.arange(frames) if frame_numbers is None else np.asarray(frame_numbers)
  if numbers.shape != (frames,):
    raise VizError(f"viewer: {len(numbers)} frame_numbers for {frames} frames")
  width, height = (float(v) for v in image_size)
  if not (width > 0 and height > 0):
    raise VizError(f"viewer: image_size = {tuple(image_size)} must be > 0")
  notes = check_poses(poses_3d, keypoints_2d, filled)
  uris = None
  if images is not None:
    pictures = [images(f) for f in range(frames)]
    if any(p is not None for p in pictures):
      uris = [None if p is None else _jpeg_uri(p, image_width) for p in pictures]
  data = {
      "frame_numbers": [int(n) for n in numbers],
      "fps": float(fps) if fps and fps > 0 else None,
      "image_size": [width, height], "units": units,
      "azimuth": float(azimuth_deg), "elevation": float(elevation_deg),
      "parents": list(skeleton.parents), "left": list(skeleton.left),
      "right": list(skeleton.right), "joint_names": list(skeleton.joint_names),
      "poses_3d": _flat(poses_3d, _decimals(poses_3d)),
      "keypoints_2d": _flat(keypoints_2d, 1),
      # One character per joint and frame: compact and quick to index.
      "filled": None if filled is None else "".join(
          "1" if v else "0" for v in filled.ravel()),
      "images": uris,
  }
  # "</" must not close the <script> element early; the JSON stays valid.
  payload = json.dumps(data, separators=(",", ":"), allow_nan=False).replace(
      "</", "<\\/")
  note = lambda items: "".join(f"<div>{html.escape(n)}</div>" for n in items)
  page = _PAGE.format(
      csp=_CSP, style=_STYLE, title=html.escape(title), units=html.escape(units),
      image_w=f"{width:g}", image_h=f"{height:g}", notes_all=note(notes["all"]),
      notes_2d=note(notes["2d"]), notes_3d=note(notes["3d"]),
      source=html.escape(source), data=payload, script=_script())
  return Viewer(page)


def save_index(folder: str | pathlib.Path, entries: Sequence[dict[str, Any]], *,
               title: str = "lifted tracks") -> pathlib.Path:
  """Writes ``folder/index.html``: a link per viewer page, with a thumbnail.

  Args:
    folder: where the viewer pages are.
    entries: per page {"file": "track_0.html", "name": "track 0", "info": "60
      frames, 3% filled", optional "thumbnail": a PIL image}.
    title: the page's heading.
  """
  folder = pathlib.Path(folder)
  rows = []
  for entry in entries:
    thumb = ""
    if entry.get("thumbnail") is not None:
      picture = entry["thumbnail"].convert("RGB")
      picture.thumbnail((480, 480))
      buffer = io.BytesIO()
      picture.save(buffer, "JPEG", quality=80)
      thumb = (f'<img alt="" src="data:image/jpeg;base64,'
               f'{base64.b64encode(buffer.getvalue()).decode()}">')
    href = html.escape(entry["file"], quote=True)
    rows.append(f'<a class="card" href="{href}">{thumb}<b>{html.escape(entry["name"])}'
                f'</b><span>{html.escape(entry.get("info", ""))}</span></a>')
  page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{_CSP}">
<meta name="generator" content="sasmamba_jax.viz.html">
<title>{html.escape(title)}</title><style>
body {{ margin: 0; padding: 16px; background: #18181c; color: #e8e8ec;
       font: 14px system-ui, sans-serif; }}
h1 {{ font-size: 20px; font-weight: 600; }}
.cards {{ display: flex; flex-wrap: wrap; gap: 12px; }}
.card {{ display: flex; flex-direction: column; gap: 4px; padding: 8px;
        background: rgb(33,34,40); color: inherit; text-decoration: none;
        border-radius: 6px; width: 480px; }}
.card:hover {{ outline: 2px solid rgb(66,135,245); }}
.card img {{ width: 100%; }}
.card span {{ color: #989aa2; }}
</style></head><body><h1>{html.escape(title)}</h1>
<p>{len(entries)} track(s); each page opens offline, rotate the 3D view with the
mouse and play or scrub the frames.</p>
<div class="cards">{"".join(rows)}</div></body></html>
"""
  path = folder / "index.html"
  tmp = path.with_name(".index.html.partial")
  tmp.write_text(page, encoding="utf-8")
  tmp.replace(path)
  return path
