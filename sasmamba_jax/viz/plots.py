"""Line plots with Pillow (loss curves in the notebooks; no matplotlib needed)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from PIL import Image
from PIL import ImageDraw

from sasmamba_jax.viz.render import VizError

_PALETTE = ((66, 135, 245), (245, 110, 66), (80, 190, 120), (200, 90, 200),
            (230, 190, 60), (120, 120, 120))
_INK, _GRID, _PAPER = (30, 30, 30), (225, 225, 225), (255, 255, 255)


def _ticks(low: float, high: float, count: int = 5) -> np.ndarray:
  return np.linspace(low, high, count)


def plot_curves(curves: Mapping[str, tuple[Sequence[float], Sequence[float]]], *,
                title: str = "", x_label: str = "step", log_y: bool = False,
                size: tuple[int, int] = (520, 300)) -> Image.Image:
  """Draws named (x, y) curves on shared axes, with ticks and a legend.

  Args:
    curves: name -> (x values, y values) of the same length (e.g. steps, losses).
    title: drawn above the axes.
    x_label: drawn under the x axis.
    log_y: logarithmic y axis (values must be > 0).
    size: (width, height) of the picture in pixels.

  Returns:
    A ``PIL.Image`` (shown by notebooks as is; ``.save("plot.png")`` to keep it).
  """
  if not curves:
    raise VizError("plot_curves: no curves to draw")
  data = {}
  for name, (xs, ys) in curves.items():
    xs, ys = np.asarray(xs, np.float64), np.asarray(ys, np.float64)
    if xs.ndim != 1 or xs.shape != ys.shape or xs.size == 0:
      raise VizError(f"plot_curves: curve {name!r} needs x and y of the same length "
                     f">= 1, got shapes {xs.shape} and {ys.shape}")
    if not (np.all(np.isfinite(xs)) and np.all(np.isfinite(ys))):
      raise VizError(f"plot_curves: curve {name!r} holds NaN or infinite values")
    if log_y and np.any(ys <= 0):
      raise VizError(f"plot_curves: curve {name!r} has values <= 0; a log axis "
                     "needs positive values (log_y=False)")
    data[name] = (xs, np.log10(ys) if log_y else ys)
  all_x = np.concatenate([x for x, _ in data.values()])
  all_y = np.concatenate([y for _, y in data.values()])
  x0, x1 = all_x.min(), all_x.max()
  y0, y1 = all_y.min(), all_y.max()
  if x1 == x0:
    x0, x1 = x0 - 1, x1 + 1
  if y1 == y0:
    y0, y1 = y0 - 1, y1 + 1
  pad = 0.05 * (y1 - y0)
  y0, y1 = y0 - pad, y1 + pad

  width, height = size
  left, right, top, bottom = 64, 12, 26 if title else 10, 34
  image = Image.new("RGB", (width, height), _PAPER)
  draw = ImageDraw.Draw(image)
  px = lambda x: left + (x - x0) / (x1 - x0) * (width - left - right)
  py = lambda y: height - bottom - (y - y0) / (y1 - y0) * (height - top - bottom)
  for v in _ticks(y0, y1):
    draw.line([(left, py(v)), (width - right, py(v))], fill=_GRID)
    label = f"{10 ** v:.3g}" if log_y else f"{v:.3g}"
    draw.text((4, py(v) - 6), label, fill=_INK)
  for v in _ticks(x0, x1):
    draw.line([(px(v), top), (px(v), height - bottom)], fill=_GRID)
    draw.text((px(v) - 10, height - bottom + 4), f"{v:.4g}", fill=_INK)
  draw.rectangle([left, top, width - right, height - bottom], outline=_INK)
  draw.text((width // 2 - 3 * len(x_label), height - 14), x_label, fill=_INK)
  if title:
    draw.text((left, 6), title, fill=_INK)
  for i, (name, (xs, ys)) in enumerate(data.items()):
    colour = _PALETTE[i % len(_PALETTE)]
    points = [(px(x), py(y)) for x, y in zip(xs, ys)]
    if len(points) > 1:
      draw.line(points, fill=colour, width=2)
    for x, y in points if len(points) <= 50 else points[-1:]:
      draw.ellipse([x - 2, y - 2, x + 2, y + 2], fill=colour)
    ly = top + 6 + 14 * i
    draw.line([(width - right - 150, ly + 6), (width - right - 130, ly + 6)],
              fill=colour, width=3)
    draw.text((width - right - 124, ly), name, fill=_INK)
  return image
