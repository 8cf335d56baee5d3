"""Windowed inference of sequences of any length (sliding and centre-frame windows)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from sasmamba_jax.evaluation import centre_frame_predict
from sasmamba_jax.evaluation import centre_frame_windows
from sasmamba_jax.evaluation import sliding_window_predict
from sasmamba_jax.evaluation.windows import window_starts


def inputs_2d(seed=0, shape=(2, 5, 17, 3)):
  x = np.random.default_rng(seed).normal(size=shape).astype(np.float32)
  x[..., 2] = np.abs(x[..., 2])  # confidence
  return x


class CountingIdentity:
  """Identity model recording the batch shapes it was called with."""

  def __init__(self, num_frames):
    self.num_frames = num_frames
    self.shapes = []

  def __call__(self, x):
    assert x.shape[1] == self.num_frames
    self.shapes.append(x.shape)
    return x


@pytest.mark.parametrize("length", [1, 5, 26, 27, 28, 40, 54, 55, 81, 100])
@pytest.mark.parametrize("stride", [None, 1, 10, 27])
def test_identity_model_reproduces_any_length(length, stride):
  seq = np.random.default_rng(length).normal(size=(length, 17, 3)).astype(np.float32)
  model = CountingIdentity(27)
  out = sliding_window_predict(model, seq, 27, stride=stride, batch_size=4)
  assert out.shape == seq.shape and out.dtype == np.float32
  np.testing.assert_array_equal(out, seq)
  assert len({s[0] for s in model.shapes}) == 1  # constant batch shape


def test_overlaps_are_averaged_hand_case():
  # F = 6, T = 4, stride 2: windows start at 0 and 2. A model returning each frame's
  # position within its window gives frame means [0, 1, (2+0)/2, (3+1)/2, 2, 3].
  seq = np.zeros((6, 1, 1), np.float32)
  pos = np.arange(4, dtype=np.float32)[None, :, None, None]
  out = sliding_window_predict(lambda x: x + pos, seq, 4, stride=2)
  np.testing.assert_allclose(out[:, 0, 0], [0, 1, 1, 2, 2, 3])
  # F = 7: starts 0, 2 and the last window moved back to 3.
  np.testing.assert_array_equal(window_starts(7, 4, 2), [0, 2, 3])
  out = sliding_window_predict(lambda x: x + pos, np.zeros((7, 1, 1), np.float32), 4,
                               stride=2)
  np.testing.assert_allclose(out[:, 0, 0],
                             [0, 1, 1, (3 + 1 + 0) / 3, (2 + 1) / 2, (3 + 2) / 2, 3])


def test_sliding_windows_with_a_jitted_lifting_model():
  seq = inputs_2d(5, (50, 17, 3))
  model = jax.jit(lambda x: jnp.concatenate([x[..., :2], x[..., :1] * 0 + 1.0], -1))
  out = sliding_window_predict(model, seq, 16, batch_size=3)
  expected = np.concatenate([seq[..., :2], np.ones_like(seq[..., :1])], -1)
  np.testing.assert_allclose(out, expected, atol=1e-6)


def test_sliding_window_bad_input():
  seq = np.zeros((10, 17, 3), np.float32)
  with pytest.raises(ValueError, match="stride"):
    sliding_window_predict(lambda x: x, seq, 4, stride=5)
  with pytest.raises(ValueError, match="num_frames"):
    sliding_window_predict(lambda x: x, seq, 0)
  with pytest.raises(ValueError, match=r"\(F, J, C\)"):
    sliding_window_predict(lambda x: x, seq[None], 4)
  with pytest.raises(ValueError, match="no frames"):
    sliding_window_predict(lambda x: x, seq[:0], 4)
  with pytest.raises(ValueError, match="returned shape"):
    sliding_window_predict(lambda x: x[:, :-1], seq, 4)
  with pytest.raises(ValueError, match="batch_size"):
    sliding_window_predict(lambda x: x, seq, 4, batch_size=0)


# ------------------------------------------------------------ centre windows


def test_centre_windows_are_edge_padded():
  seq = np.arange(7, dtype=np.float32)[:, None, None]
  windows = centre_frame_windows(seq, 5)
  assert windows.shape == (7, 5, 1, 1)
  np.testing.assert_array_equal(windows[0, :, 0, 0], [0, 0, 0, 1, 2])
  np.testing.assert_array_equal(windows[3, :, 0, 0], [1, 2, 3, 4, 5])
  np.testing.assert_array_equal(windows[6, :, 0, 0], [4, 5, 6, 6, 6])
  # Even T: the centre is position (T - 1) // 2.
  np.testing.assert_array_equal(centre_frame_windows(seq, 4, [0])[0, :, 0, 0],
                                [0, 0, 1, 2])
  # Longer window than sequence.
  np.testing.assert_array_equal(centre_frame_windows(seq[:2], 5, [1])[0, :, 0, 0],
                                [0, 0, 1, 1, 1])


@pytest.mark.parametrize("length", [1, 3, 9, 30])
def test_centre_predict_identity(length):
  seq = np.random.default_rng(length).normal(size=(length, 17, 3)).astype(np.float32)
  model = CountingIdentity(9)
  np.testing.assert_array_equal(centre_frame_predict(model, seq, 9, batch_size=4), seq)
  frames = np.arange(length)[::2]
  np.testing.assert_array_equal(centre_frame_predict(model, seq, 9, frames), seq[frames])
  assert len({s[0] for s in model.shapes}) <= 2


def test_centre_predict_bad_input():
  seq = np.zeros((10, 17, 3), np.float32)
  with pytest.raises(ValueError, match=r"\[0, 10\)"):
    centre_frame_predict(lambda x: x, seq, 5, [3, 10])
  with pytest.raises(ValueError, match="integer"):
    centre_frame_predict(lambda x: x, seq, 5, np.array([1.0]))
  with pytest.raises(ValueError, match="no frame"):
    centre_frame_predict(lambda x: x, seq, 5, np.array([], np.int64))


def test_non_finite_frames_are_named_not_spread():
  sequence = np.zeros((30, 17, 3), np.float32)
  sequence[[4, 9], 3, 0] = np.nan
  sequence[12, 0, 1] = np.inf
  with pytest.raises(ValueError, match=r"3 frame\(s\) hold NaN or infinite coordinates "
                                       r"\(frames 4, 9, 12\)"):
    sliding_window_predict(lambda x: x, sequence, num_frames=9)
  with pytest.raises(ValueError, match="NaN or infinite"):
    centre_frame_predict(lambda x: x, sequence, num_frames=9)
