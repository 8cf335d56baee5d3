"""GLSMamba's space-time selective scans: STS6D's six routes and WSTS's windows.

A clip of features is (B, T, h, w, E). GLSMamba (docs/reference.md, GLSMamba) scans it
along routes, each with its own S6 parameters:

  kind       forward order of the tokens                 what it is
  "unified"  (h, T, w): rows of the panorama h x (T w)   y1 (reverse: y4)
  "space"    (T, w, h): frame by frame, each frame       y2 (reverse: y5)
             column-major (columns of the panorama)
  "time"     (h, w, T): pixel by pixel (row-major),      y3 (reverse: y6)
             each pixel across the T frames

``to_route`` lays a clip out along a route (optionally reversed) and ``from_route``
puts a route's output back on the grid: ``from_route(to_route(x))`` is the identity,
so y_u = y1 + inv(y4) etc. are sums on the grid. By default a route is ONE scan over
all T h w tokens (the state carries from frame to frame and pixel to pixel, as a
single traversal of Fig. 2); ``restart=True`` restarts the space-wise route at every
frame and the time-wise route at every pixel (segments batched).

WSTS (the local refinement module) cuts the clip into non-overlapping windows of
wh x ww x T tokens, unrolls each window frame by frame (row-major inside a frame),
scans forward and in reverse with separate parameters, and sums the two on the grid.

The scans go through ``ops.selective_scan`` (any ``impl``): the "auto", "chunked",
"sequential_vjp" and "pallas" implementations never hold the (L, E, N) state.
"""

from __future__ import annotations

import math
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from sasmamba_jax.nn.st_ssm import dt_bias_init
from sasmamba_jax.nn.st_ssm import uniform
from sasmamba_jax.ops import selective_scan

ROUTE_KINDS = ("unified", "space", "time")
# Axis order of (T, h, w) along each route, slowest first.
_ORDER = {"unified": (1, 0, 2), "space": (0, 2, 1), "time": (1, 2, 0)}
# Segment length of a restarted route, as a function of (T, h, w).
_SEGMENT = {"unified": lambda t, h, w: t * h * w, "space": lambda t, h, w: h * w,
            "time": lambda t, h, w: t}


def _check_kind(kind: str) -> None:
  if kind not in ROUTE_KINDS:
    raise ValueError(f"unknown route kind {kind!r}; choose from {ROUTE_KINDS}")


def route_order(kind: str, frames: int, height: int, width: int,
                reverse: bool = False) -> np.ndarray:
  """(T h w,) flat grid index (t * h * w + r * w + c) of the token at each route step."""
  _check_kind(kind)
  grid = np.arange(frames * height * width).reshape(frames, height, width)
  order = grid.transpose(_ORDER[kind]).reshape(-1)
  return order[::-1] if reverse else order


def to_route(x: jax.Array, kind: str, reverse: bool = False,
             restart: bool = False) -> jax.Array:
  """(B, T, h, w, E) -> (B * S, L / S, E): the tokens in route order.

  S = 1 segment unless ``restart`` (then T for "space", h * w for "time"); a reversed
  route reverses each segment.
  """
  _check_kind(kind)
  b, t, h, w, e = x.shape
  seg = _SEGMENT[kind](t, h, w) if restart else t * h * w
  perm = (0,) + tuple(a + 1 for a in _ORDER[kind]) + (4,)
  seq = jnp.transpose(x, perm).reshape(b * (t * h * w // seg), seg, e)
  return seq[:, ::-1] if reverse else seq


def from_route(y: jax.Array, kind: str, shape: Sequence[int], reverse: bool = False
               ) -> jax.Array:
  """Inverse of ``to_route``: (B * S, L / S, E) -> (B, T, h, w, E) on the grid."""
  _check_kind(kind)
  b, t, h, w = shape[:4]
  if reverse:
    y = y[:, ::-1]
  sizes = (t, h, w)
  order = _ORDER[kind]
  y = y.reshape(b, *(sizes[a] for a in order), y.shape[-1])
  inverse = np.argsort(order)
  return jnp.transpose(y, (0,) + tuple(int(a) + 1 for a in inverse) + (4,))


def to_windows(x: jax.Array, window: tuple[int, int], reverse: bool = False
               ) -> jax.Array:
  """(B, T, h, w, E) -> (B nh nw, T wh ww, E): each window unrolled frame by frame."""
  b, t, h, w, e = x.shape
  wh, ww = window
  x = x.reshape(b, t, h // wh, wh, w // ww, ww, e).transpose(0, 2, 4, 1, 3, 5, 6)
  seq = x.reshape(b * (h // wh) * (w // ww), t * wh * ww, e)
  return seq[:, ::-1] if reverse else seq


def from_windows(y: jax.Array, window: tuple[int, int], shape: Sequence[int],
                 reverse: bool = False) -> jax.Array:
  """Inverse of ``to_windows``."""
  b, t, h, w = shape[:4]
  wh, ww = window
  if reverse:
    y = y[:, ::-1]
  y = y.reshape(b, h // wh, w // ww, t, wh, ww, y.shape[-1])
  return y.transpose(0, 3, 1, 4, 2, 5, 6).reshape(b, t, h, w, y.shape[-1])


class S6Bank(nnx.Module):
  """S6 parameters of K routes over E channels, run as one selective scan.

  Per route k (mamba's layout and initialisation, as ``BiSTSSM``): ``x_proj_weight``
  (K, R + 2N, E) U(+-E^-1/2); ``dt_projs_weight`` (K, E, R) U(+-R^-1/2);
  ``dt_projs_bias`` (K, E) the inverse softplus of log-uniform steps in [1e-3, 0.1];
  ``A_logs`` (K E, N) = log(1..N); ``Ds`` (K E) = 1. The K routes are concatenated
  along channels (B and C grouped per route) into one ``selective_scan`` call.
  """

  def __init__(self, routes: int, channels: int, *, d_state: int = 16,
               dt_rank: int | None = None, impl: str = "auto",
               chunk_size: int | None = None, rngs: nnx.Rngs):
    k, e, n = routes, channels, d_state
    r = math.ceil(e / 16) if dt_rank is None else dt_rank
    self.routes, self.channels, self.d_state, self.dt_rank = k, e, n, r
    self.impl, self.chunk_size = impl, chunk_size
    self.x_proj_weight = nnx.Param(uniform(rngs.params(), (k, r + 2 * n, e),
                                           1.0 / math.sqrt(e)))
    self.dt_projs_weight = nnx.Param(uniform(rngs.params(), (k, e, r), r ** -0.5))
    self.dt_projs_bias = nnx.Param(dt_bias_init(rngs.params(), (k, e)))
    self.A_logs = nnx.Param(jnp.tile(jnp.log(jnp.arange(1, n + 1, dtype=jnp.float32)),
                                     (k * e, 1)))
    self.Ds = nnx.Param(jnp.ones((k * e,), jnp.float32))

  def __call__(self, xs: jax.Array) -> jax.Array:
    """(b, L, K, E) route inputs -> (b, L, K, E) float32 route outputs."""
    b, length, k, e = xs.shape
    n, r = self.d_state, self.dt_rank
    f32 = lambda a: a.astype(jnp.float32)  # The scan runs in float32.
    x_dbl = jnp.einsum("blke,kce->blkc", xs, self.x_proj_weight[...].astype(xs.dtype))
    dts, bs, cs = jnp.split(x_dbl, [r, r + n], axis=-1)
    dts = jnp.einsum("blkr,ker->blke", dts, self.dt_projs_weight[...].astype(xs.dtype))
    ys = selective_scan(
        f32(xs).reshape(b, length, k * e), f32(dts).reshape(b, length, k * e),
        -jnp.exp(f32(self.A_logs[...])), f32(bs), f32(cs), D=f32(self.Ds[...]),
        delta_bias=f32(self.dt_projs_bias[...]).reshape(k * e), delta_softplus=True,
        impl=self.impl, chunk_size=self.chunk_size)
    return ys.reshape(b, length, k, e)


class STS6D(nnx.Module):
  """The six-route space-time scan: per enabled kind, a forward and a reverse route.

  Returns ``{kind: y_kind}`` with y_kind = y_forward + inv(y_reverse) on the grid,
  float32 (B, T, h, w, E). Each kind has its own ``S6Bank`` of 2 routes (attribute
  named after the kind), so dropping a kind drops its parameters.
  """

  def __init__(self, channels: int, kinds: Sequence[str] = ROUTE_KINDS, *,
               d_state: int = 16, dt_rank: int | None = None, restart: bool = False,
               impl: str = "auto", chunk_size: int | None = None, rngs: nnx.Rngs):
    for kind in kinds:
      _check_kind(kind)
    if not kinds or len(set(kinds)) != len(kinds):
      raise ValueError(f"STS6D: kinds must be distinct and non-empty, got {kinds}")
    self.kinds = tuple(kinds)
    self.restart = restart
    for kind in self.kinds:
      setattr(self, kind, S6Bank(2, channels, d_state=d_state, dt_rank=dt_rank,
                                 impl=impl, chunk_size=chunk_size, rngs=rngs))

  def __call__(self, x: jax.Array) -> dict[str, jax.Array]:
    """(B, T, h, w, E) -> {kind: (B, T, h, w, E) float32}."""
    out = {}
    for kind in self.kinds:
      xs = jnp.stack([to_route(x, kind, False, self.restart),
                      to_route(x, kind, True, self.restart)], axis=2)
      ys = getattr(self, kind)(xs)
      out[kind] = (from_route(ys[:, :, 0], kind, x.shape, False)
                   + from_route(ys[:, :, 1], kind, x.shape, True))
    return out


class WSTS(nnx.Module):
  """Windowed space-time scan: windows of wh x ww x T, forward + reverse, summed."""

  def __init__(self, channels: int, window: tuple[int, int] = (8, 6), *,
               d_state: int = 16, dt_rank: int | None = None, impl: str = "auto",
               chunk_size: int | None = None, rngs: nnx.Rngs):
    self.window = tuple(int(a) for a in window)
    self.scan = S6Bank(2, channels, d_state=d_state, dt_rank=dt_rank, impl=impl,
                       chunk_size=chunk_size, rngs=rngs)

  def __call__(self, x: jax.Array) -> jax.Array:
    """(B, T, h, w, E) -> (B, T, h, w, E) float32; h, w multiples of the window."""
    h, w = x.shape[2:4]
    if h % self.window[0] or w % self.window[1]:
      raise ValueError(f"WSTS: the feature map {h}x{w} is not a multiple of the "
                       f"{self.window[0]}x{self.window[1]} window; change the window "
                       "or the input size")
    xs = jnp.stack([to_windows(x, self.window), to_windows(x, self.window, True)],
                   axis=2)
    ys = self.scan(xs)
    return (from_windows(ys[:, :, 0], self.window, x.shape)
            + from_windows(ys[:, :, 1], self.window, x.shape, True))


__all__ = ["ROUTE_KINDS", "S6Bank", "STS6D", "WSTS", "from_route", "from_windows",
           "route_order", "to_route", "to_windows"]
