"""The HTML viewer in a real browser: headless Chromium, network off, screenshots.

Needs Debian's ``chromium`` (``apt-get install chromium``; ``.ci/run`` installs it
when it runs as root); skipped with that reason where it is absent.
"""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess

import numpy as np
from PIL import Image
import pytest

from sasmamba_jax import viz
from sasmamba_jax.datasets import synthetic_motion_dataset_builder as synthetic
from sasmamba_jax.viz import render

WINDOW = (1280, 800)


def _chromium() -> str:
  for name in ("chromium", "chromium-browser", "google-chrome"):
    if path := shutil.which(name):
      return path
  pytest.skip("headless Chromium not found: apt-get install chromium (.ci/run "
              "installs it when run as root)")


@pytest.fixture(scope="module")
def page(tmp_path_factory):
  """A walking person, 40 frames, as the lift CLI writes it (mm, filled joints)."""
  person = synthetic.sample_sequence("walking", 40, seed=3)
  filled = np.zeros((40, 17), bool)
  filled[10:20, 13] = True
  return viz.viewer(person["poses_3d_mm"], person["keypoints_2d"],
                    person["image_size"], filled=filled, fps=50, units="mm",
                    title="track 0").save(tmp_path_factory.mktemp("page") / "t.html")


def _screenshot(page: pathlib.Path, fragment: str, tmp: pathlib.Path) -> np.ndarray:
  out = tmp / f"shot{fragment.replace('=', '_').replace('#', '')}.png"
  profile = tmp / f"profile{len(list(tmp.iterdir()))}"
  command = [
      _chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
      "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync", f"--user-data-dir={profile}",
      # The network is off: no name resolves and every connection goes nowhere.
      "--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=127.0.0.1:9",
      f"--window-size={WINDOW[0]},{WINDOW[1]}", "--hide-scrollbars",
      "--virtual-time-budget=2000", f"--screenshot={out}",
      page.resolve().as_uri() + fragment]
  env = dict(os.environ, HOME=str(tmp))  # Chromium writes under $HOME
  done = subprocess.run(command, capture_output=True, text=True, timeout=60,
                        env=env, check=False)
  assert out.is_file(), f"no screenshot (exit {done.returncode}): {done.stderr[-2000:]}"
  return np.asarray(Image.open(out).convert("RGB"), np.int32)


def _limb_pixels(shot: np.ndarray, colour, box) -> int:
  x0, y0, x1, y1 = box
  return int(np.all(np.abs(shot[y0:y1, x0:x1] - colour) <= 12, -1).sum())


def test_viewer_draws_and_scrubs_in_chromium(page, tmp_path):
  first = _screenshot(page, "", tmp_path)
  later = _screenshot(page, "#frame=25", tmp_path)
  assert first.shape[:2] == (WINDOW[1], WINDOW[0])
  # The panels sit side by side under the header; the legend's swatches (header)
  # and the controls (bottom) are left out.
  left_panel = (0, 60, WINDOW[0] // 2, 560)
  right_panel = (WINDOW[0] // 2, 60, WINDOW[0], 560)
  for box in (left_panel, right_panel):
    for colour in (render.LEFT, render.RIGHT):
      assert _limb_pixels(first, colour, box) > 40, (box, colour)
  # A scrubbed frame draws another pose, in both panels.
  for x0, y0, x1, y1 in (left_panel, right_panel):
    moved = np.any(first[y0:y1, x0:x1] != later[y0:y1, x0:x1], -1).sum()
    assert moved > 200
  # And frame 25 is what the page was asked for: the same as scrubbing there
  # from the URL of another frame (the fragment is the page's state).
  again = _screenshot(page, "#frame=25&azimuth=45", tmp_path)
  np.testing.assert_array_equal(later[60:560], again[60:560])
