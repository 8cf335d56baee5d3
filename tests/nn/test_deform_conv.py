"""Deformable convolution against a loop-by-loop NumPy transcription of torchvision's
``deform_conv2d``: DCNv1 (no mask) and DCNv2 (mask), any groups and offset groups."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from sasmamba_jax.nn import deform_conv as deform_conv_module
from sasmamba_jax.nn.deform_conv import DeformableDepthwiseConv
from sasmamba_jax.nn.deform_conv import ModulatedDeformConv
from sasmamba_jax.nn.deform_conv import deform_conv2d


def _bilinear(img, y, x):
  """torchvision's bilinear_interpolate for one channel image (H, W)."""
  h, w = img.shape
  if y <= -1 or y >= h or x <= -1 or x >= w:
    return 0.0
  y0, x0 = int(np.floor(y)), int(np.floor(x))
  ly, lx = y - y0, x - x0
  val = 0.0
  for cy, cx, wt in ((y0, x0, (1 - ly) * (1 - lx)), (y0, x0 + 1, (1 - ly) * lx),
                     (y0 + 1, x0, ly * (1 - lx)), (y0 + 1, x0 + 1, ly * lx)):
    if 0 <= cy < h and 0 <= cx < w:
      val += wt * img[cy, cx]
  return val


def _reference(x, offset, weight, bias, stride, pad, dil, mask=None, groups=None):
  """x (B, C, H, W), offset (B, 2 G kh kw, Ho, Wo), mask (B, G kh kw, Ho, Wo), weight
  (Cout, C / groups, kh, kw): NCHW as torch; groups default to depthwise."""
  b, c, h, w = x.shape
  cout, cin_g, kh, kw = weight.shape
  groups = groups or c
  k = kh * kw
  g_off = offset.shape[1] // (2 * k)
  ho = (h + 2 * pad[0] - dil[0] * (kh - 1) - 1) // stride[0] + 1
  wo = (w + 2 * pad[1] - dil[1] * (kw - 1) - 1) // stride[1] + 1
  out = np.zeros((b, cout, ho, wo))
  for n in range(b):
    for oy in range(ho):
      for ox in range(wo):
        for i in range(kh):
          for j in range(kw):
            t = i * kw + j
            for ch in range(c):
              g = ch // (c // g_off)
              y = oy * stride[0] - pad[0] + i * dil[0] + offset[n, g * 2 * k + 2 * t, oy, ox]
              xx = (ox * stride[1] - pad[1] + j * dil[1]
                    + offset[n, g * 2 * k + 2 * t + 1, oy, ox])
              v = _bilinear(x[n, ch], y, xx)
              if mask is not None:
                v *= mask[n, g * k + t, oy, ox]
              grp = ch // cin_g
              for o in range(grp * (cout // groups), (grp + 1) * (cout // groups)):
                out[n, o, oy, ox] += weight[o, ch - grp * cin_g, i, j] * v
  return out + bias[None, :, None, None]


@pytest.mark.parametrize("kernel,stride,pad,dil,scale", [
    ((3, 3), (1, 1), (1, 1), (1, 1), 1.5),
    ((3, 3), (1, 1), (1, 1), (1, 1), 6.0),  # Many samples fall outside the grid.
    ((3, 5), (2, 1), (1, 2), (1, 1), 1.0),
    ((3, 3), (1, 2), (2, 1), (2, 1), 2.0),
])
def test_matches_torchvision_semantics(kernel, stride, pad, dil, scale):
  rng = np.random.RandomState(0)
  b, c, h, w = 2, 3, 7, 6
  kh, kw = kernel
  ho = (h + 2 * pad[0] - dil[0] * (kh - 1) - 1) // stride[0] + 1
  wo = (w + 2 * pad[1] - dil[1] * (kw - 1) - 1) // stride[1] + 1
  x = rng.randn(b, c, h, w).astype(np.float32)
  offset = (rng.randn(b, 2 * kh * kw, ho, wo) * scale).astype(np.float32)
  weight = rng.randn(c, 1, kh, kw).astype(np.float32)
  bias = rng.randn(c).astype(np.float32)
  expected = _reference(x.astype(np.float64), offset.astype(np.float64),
                        weight.astype(np.float64), bias.astype(np.float64),
                        stride, pad, dil)
  got = deform_conv2d(jnp.asarray(x.transpose(0, 2, 3, 1)),
                      jnp.asarray(offset.transpose(0, 2, 3, 1)),
                      jnp.asarray(weight.transpose(2, 3, 1, 0)), jnp.asarray(bias),
                      stride=stride, padding=pad, dilation=dil, groups=c)
  np.testing.assert_allclose(np.asarray(got).transpose(0, 3, 1, 2), expected,
                             rtol=1e-5, atol=1e-5)


def test_zero_offsets_equal_depthwise_conv():
  rng = np.random.RandomState(1)
  x = jnp.asarray(rng.randn(2, 9, 5, 4), jnp.float32)
  kernel = jnp.asarray(rng.randn(3, 3, 1, 4), jnp.float32)
  got = deform_conv2d(x, jnp.zeros((2, 9, 5, 18)), kernel, padding=1, groups=4)
  want = jax.lax.conv_general_dilated(x, kernel, (1, 1), ((1, 1), (1, 1)),
                                      dimension_numbers=("NHWC", "HWIO", "NHWC"),
                                      feature_group_count=4)
  np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_integer_offsets_shift_and_border_is_zero():
  x = jnp.arange(1.0, 13.0).reshape(1, 4, 3, 1)
  kernel = jnp.zeros((1, 1, 1, 1)).at[0, 0, 0, 0].set(1.0)
  offset = jnp.zeros((1, 4, 3, 2)).at[..., 0].set(1.0)  # Sample one row down.
  got = deform_conv2d(x, offset, kernel)[0, :, :, 0]
  np.testing.assert_array_equal(got[:3], x[0, 1:, :, 0])
  np.testing.assert_array_equal(got[3], jnp.zeros(3))  # y = 4 >= H: outside.
  # Half-way past the last row: only the in-grid corner contributes.
  half = deform_conv2d(x, offset * 0.5, kernel)[0, 3, :, 0]
  np.testing.assert_allclose(half, 0.5 * x[0, 3, :, 0])


def test_offset_gradient_matches_finite_differences():
  rng = np.random.RandomState(2)
  x = jnp.asarray(rng.randn(1, 6, 5, 2), jnp.float32)
  kernel = jnp.asarray(rng.randn(3, 3, 1, 2), jnp.float32)
  # Fractional offsets away from integers, where the sampling is smooth.
  shape = (1, 6, 5, 18)
  offset = jnp.asarray(rng.randint(-2, 2, shape) + rng.uniform(0.2, 0.8, shape),
                       jnp.float32)
  w = jnp.asarray(rng.randn(1, 6, 5, 2), jnp.float32)
  loss = lambda x, o: jnp.sum(deform_conv2d(x, o, kernel, padding=1, groups=2) * w)
  gx, go = jax.grad(loss, argnums=(0, 1))(x, offset)
  for arg, grad in ((0, gx), (1, go)):
    v = jnp.asarray(rng.randn(*(x if arg == 0 else offset).shape), jnp.float32)
    eps = 1e-2
    plus = [x, offset]
    minus = [x, offset]
    plus[arg] = plus[arg] + eps * v
    minus[arg] = minus[arg] - eps * v
    fd = (loss(*plus) - loss(*minus)) / (2 * eps)
    np.testing.assert_allclose(fd, jnp.sum(grad * v), rtol=2e-3)


def test_module_shapes_init_and_dtype():
  conv = DeformableDepthwiseConv(6, 3, rngs=nnx.Rngs(0))
  assert conv.kernel.shape == (3, 3, 1, 6) and conv.bias.shape == (6,)
  assert conv.offset_conv.kernel.shape == (3, 3, 6, 18)
  assert float(jnp.max(jnp.abs(conv.kernel[...]))) <= 1 / 3  # U(+-1/sqrt(9)).
  x = jax.random.normal(jax.random.key(0), (2, 5, 4, 6))
  apply = nnx.jit(lambda m, x: m(x))
  assert apply(conv, x).shape == (2, 5, 4, 6)
  half = DeformableDepthwiseConv(6, 3, dtype=jnp.bfloat16, rngs=nnx.Rngs(0))
  out = apply(half, x.astype(jnp.bfloat16))
  assert out.dtype == jnp.bfloat16
  np.testing.assert_allclose(out.astype(jnp.float32), apply(conv, x), atol=0.1)


@pytest.mark.parametrize("c,cout,groups,g_off,kernel,stride,pad,dil,masked", [
    (6, 4, 2, 3, (2, 3), (1, 2), (1, 0), (1, 1), True),   # G does not align with groups.
    (4, 6, 2, 1, (3, 1), (2, 1), (2, 1), (2, 1), False),  # DCNv1, groups 2.
])
def test_groups_offset_groups_and_mask(c, cout, groups, g_off, kernel, stride, pad, dil,
                                       masked):
  rng = np.random.RandomState(3)
  b, h, w = 1, 6, 5
  kh, kw = kernel
  ho = (h + 2 * pad[0] - dil[0] * (kh - 1) - 1) // stride[0] + 1
  wo = (w + 2 * pad[1] - dil[1] * (kw - 1) - 1) // stride[1] + 1
  x = rng.randn(b, c, h, w)
  offset = rng.uniform(-2.5, 2.5, (b, 2 * g_off * kh * kw, ho, wo))
  mask = rng.uniform(0, 1, (b, g_off * kh * kw, ho, wo)) if masked else None
  weight = rng.randn(cout, c // groups, kh, kw)
  bias = rng.randn(cout)
  expected = _reference(x, offset, weight, bias, stride, pad, dil, mask, groups)
  f32 = lambda a, axes: jnp.asarray(a.transpose(axes), jnp.float32)
  run = jax.jit(functools.partial(deform_conv2d, stride=stride, padding=pad,
                                  dilation=dil, groups=groups))
  got = run(f32(x, (0, 2, 3, 1)), f32(offset, (0, 2, 3, 1)), f32(weight, (2, 3, 1, 0)),
            jnp.asarray(bias, jnp.float32),
            None if mask is None else f32(mask, (0, 2, 3, 1)))
  np.testing.assert_allclose(np.asarray(got).transpose(0, 3, 1, 2), expected,
                             rtol=1e-4, atol=1e-4)


def test_mask_of_ones_is_dcnv1_and_mask_scales_linearly():
  rng = np.random.RandomState(4)
  x = jnp.asarray(rng.randn(1, 5, 4, 4), jnp.float32)
  offset = jnp.asarray(rng.randn(1, 5, 4, 36), jnp.float32)  # G = 2
  weight = jnp.asarray(rng.randn(3, 3, 4, 3), jnp.float32)
  run = jax.jit(lambda m: (deform_conv2d(x, offset, weight, padding=1),
                           deform_conv2d(x, offset, weight, mask=m, padding=1),
                           deform_conv2d(x, offset, weight, mask=0.5 * m, padding=1)))
  plain, ones, half = run(jnp.ones((1, 5, 4, 18)))
  np.testing.assert_allclose(ones, plain, rtol=1e-6, atol=1e-6)
  np.testing.assert_allclose(half, 0.5 * plain, rtol=1e-6, atol=1e-6)


def test_modulated_module_starts_as_a_plain_conv_with_half_mask():
  conv = ModulatedDeformConv(4, 6, 8, 3, offset_groups=2, rngs=nnx.Rngs(0))
  assert conv.offset_mask.kernel.shape == (3, 3, 8, 3 * 2 * 9)
  x = jax.random.normal(jax.random.key(0), (2, 5, 4, 4))
  guide = jax.random.normal(jax.random.key(1), (2, 5, 4, 8))
  want = jax.lax.conv_general_dilated(x, conv.kernel[...], (1, 1), ((1, 1), (1, 1)),
                                      dimension_numbers=("NHWC", "HWIO", "NHWC"))
  out = nnx.jit(lambda m, x, g: m(x, g))(conv, x, guide)
  np.testing.assert_allclose(out, 0.5 * want + conv.bias[...], rtol=1e-5, atol=1e-5)
  with pytest.raises(ValueError, match="must divide"):
    ModulatedDeformConv(4, 6, 8, offset_groups=3, rngs=nnx.Rngs(0))


def test_shape_errors():
  x = jnp.zeros((1, 4, 4, 6))
  w = jnp.zeros((3, 3, 3, 4))
  ok = dict(padding=1, groups=2)
  jax.eval_shape(lambda: deform_conv2d(x, jnp.zeros((1, 4, 4, 18 * 3)), w, **ok))
  with pytest.raises(ValueError, match="offset must be"):
    deform_conv2d(x, jnp.zeros((1, 4, 4, 17)), w, **ok)
  with pytest.raises(ValueError, match="offset must be"):
    deform_conv2d(x, jnp.zeros((1, 3, 4, 18)), w, **ok)
  with pytest.raises(ValueError, match="G = 4 offset groups"):
    deform_conv2d(x, jnp.zeros((1, 4, 4, 18 * 4)), w, **ok)
  with pytest.raises(ValueError, match="mask must be"):
    deform_conv2d(x, jnp.zeros((1, 4, 4, 18)), w, mask=jnp.zeros((1, 4, 4, 18)), **ok)
  with pytest.raises(ValueError, match="weight must be"):
    deform_conv2d(x, jnp.zeros((1, 4, 4, 18)), w, padding=1)  # groups=1: (3, 3, 6, .)
  with pytest.raises(ValueError, match="groups = 4"):
    deform_conv2d(x, jnp.zeros((1, 4, 4, 18)), w, padding=1, groups=4)
  with pytest.raises(ValueError, match="bias must be"):
    deform_conv2d(x, jnp.zeros((1, 4, 4, 18)), w, jnp.zeros(6), **ok)
  with pytest.raises(ValueError, match="stride must be"):
    deform_conv2d(x, jnp.zeros((1, 4, 4, 18)), w, stride=(1, 0), padding=1, groups=2)
  with pytest.raises(ValueError, match="x must be"):
    deform_conv2d(x[0], jnp.zeros((1, 4, 4, 18)), w, **ok)
  with pytest.raises(ValueError, match="empty output"):
    deform_conv2d(jnp.zeros((1, 2, 2, 6)), jnp.zeros((1, 1, 1, 18)), w, groups=2)
  with pytest.raises(ValueError, match="odd"):
    DeformableDepthwiseConv(2, 2, rngs=nnx.Rngs(0))


@pytest.mark.parametrize("c,cout,groups,g_off,masked", [
    (6, 6, 6, 1, False),  # SasMamba: depthwise DCNv1.
    (6, 5, 1, 1, True),   # GLSMamba STMM: full modulated DCNv2.
    (6, 6, 6, 1, True),   # STMM with stmm_groups = C.
    (6, 4, 2, 3, True),   # Offset groups across convolution groups.
])
def test_internal_paths_agree(monkeypatch, c, cout, groups, g_off, masked):
  """Each path and the rematerialised variant against the others, every gradient,
  with offsets that leave the image and exactly integer coordinates (the corner
  case of floor's one-sided coordinate gradient, and y == -1 / y == H)."""
  rng = np.random.RandomState(5)
  b, h, w = 2, 7, 5
  x = jnp.asarray(rng.randn(b, h, w, c), jnp.float32)
  offset = rng.uniform(-6, 6, (b, h, w, 18 * g_off))
  offset[..., ::3] = np.round(offset[..., ::3])
  offset = jnp.asarray(offset, jnp.float32)
  mask = jnp.asarray(rng.uniform(0, 1, (b, h, w, 9 * g_off)), jnp.float32)
  weight = jnp.asarray(rng.randn(3, 3, c // groups, cout), jnp.float32)
  bias = jnp.asarray(rng.randn(cout), jnp.float32)
  probe = jnp.asarray(rng.randn(b, h, w, cout), jnp.float32)

  def grads(impl):
    def loss(x, offset, weight, bias, mask):
      out = deform_conv2d(x, offset, weight, bias, mask if masked else None,
                          padding=1, groups=groups, impl=impl)
      return jnp.sum(out * probe)
    return jax.jit(jax.value_and_grad(loss, argnums=(0, 1, 2, 3, 4)))(
        x, offset, weight, bias, mask)

  want = grads("gather")
  assert float(jnp.max(jnp.abs(want[1][1]))) > 0  # The offset gradient is exercised.
  got = {"dense": grads("dense"), "auto": grads("auto")}
  monkeypatch.setattr(deform_conv_module, "REMAT_BYTES", 0)
  got["gather, rematerialised"] = grads("gather")
  for name, (value, gs) in got.items():
    np.testing.assert_allclose(value, want[0], rtol=1e-5, err_msg=name)
    for i, (g, wg) in enumerate(zip(gs, want[1])):
      np.testing.assert_allclose(g, wg, rtol=1e-5, atol=1e-5,
                                 err_msg=f"{name}, gradient {i}")
  with pytest.raises(ValueError, match="impl must be"):
    deform_conv2d(x, offset, weight, impl="scatter", padding=1, groups=groups)


def test_exports_with_a_symbolic_batch():
  """jax.export with a symbolic batch (save_pretrained's forward) traces the op."""
  rng = np.random.default_rng(0)
  x = rng.normal(size=(2, 5, 4, 3)).astype(np.float32)
  offset = rng.normal(size=(2, 5, 4, 18)).astype(np.float32)
  weight = rng.normal(size=(3, 3, 1, 3)).astype(np.float32)
  fn = jax.jit(lambda x, o: deform_conv2d(x, o, weight, padding=1, groups=3))
  (b,) = jax.export.symbolic_shape("batch")
  exported = jax.export.export(fn)(
      jax.ShapeDtypeStruct((b, 5, 4, 3), jnp.float32),
      jax.ShapeDtypeStruct((b, 5, 4, 18), jnp.float32))
  np.testing.assert_allclose(np.asarray(exported.call(x, offset)),
                             np.asarray(fn(x, offset)), rtol=1e-6, atol=1e-6)
