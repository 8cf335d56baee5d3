"""The HTML viewer: one offline file, its data, notes on bad input, the index page."""

from __future__ import annotations

import html
import json
import re

import numpy as np
from PIL import Image
import pytest

from sasmamba_jax import viz
from tests.helpers import swaying_poses as _poses


def _data(page: str) -> dict:
  match = re.search(r'<script type="application/json" id="pose-data">(.*?)</script>',
                    page, re.S)
  return json.loads(match.group(1))


def test_page_is_self_contained_and_carries_the_sequence(tmp_path):
  p3, p2 = _poses(6)
  filled = np.zeros((6, 17), bool)
  filled[2, 13] = True
  video = lambda i: np.full((480, 640, 3), 30 * i, np.uint8)
  page = viz.viewer(p3, p2, (640, 480), filled=filled, fps=30,
                    frame_numbers=np.arange(6) + 10, units="mm", title="track 7",
                    images=video, image_width=64)
  path = page.save(tmp_path / "t.html")
  text = path.read_text()
  assert text.startswith("<!DOCTYPE html>") and "<title>track 7</title>" in text
  # Offline: no address to fetch, every request refused by the page's policy.
  assert not re.search(r"(https?|ftp|wss?):", text, re.I)
  assert not re.search(r'(src|href)="(?!data:)|url\(|@import', text)
  assert "default-src 'none'" in text
  data = _data(text)
  assert data["frame_numbers"] == list(range(10, 16)) and data["fps"] == 30
  np.testing.assert_allclose(np.reshape(data["poses_3d"], p3.shape), p3, atol=1e-3)
  np.testing.assert_allclose(np.reshape(data["keypoints_2d"], p2.shape), p2,
                             atol=0.05)
  assert data["filled"][2 * 17 + 13] == "1" and data["filled"].count("1") == 1
  assert len(data["images"]) == 6 and data["images"][0].startswith(
      "data:image/jpeg;base64,")
  assert data["units"] == "mm" and data["parents"][0] == -1
  assert len(text) < 60_000  # six frames of 64 px JPEG and the script
  assert not list(tmp_path.glob(".*"))  # written aside, then renamed


def test_text_cannot_break_out_of_the_page():
  p3, p2 = _poses(2)
  page = viz.viewer(p3, p2, (640, 480), title="<b>x</b>", units="</script><i>",
                    source="a & b").html
  assert "<b>x</b>" not in page and "&lt;b&gt;x&lt;/b&gt;" in page
  assert _data(page)["units"] == "</script><i>"
  assert page.count("</script>") == 2  # the data and the viewer, nothing else


def test_inline_display_in_notebooks():
  p3, p2 = _poses(2)
  page = viz.viewer(p3, p2, (640, 480))
  inline = page._repr_html_()  # pylint: disable=protected-access
  assert inline.startswith("<iframe srcdoc=") and "<script" not in inline
  assert html.unescape(inline.split('srcdoc="')[1].split('" style=')[0]) == page.html


@pytest.mark.parametrize("case,note", [
    ("one_frame", "a single frame"), ("all_filled", "every joint is filled"),
    ("one_point", "all joints at one point")])
def test_suspect_input_pages_carry_a_note(case, note):
  p3, p2 = _poses(3)
  filled = None
  if case == "one_frame":
    p3, p2 = p3[:1], p2[:1]
  elif case == "all_filled":
    filled = np.ones((3, 17), bool)
  else:
    p3, p2 = np.zeros_like(p3), np.full_like(p2, 5.0)
  page = viz.viewer(p3, p2, (640, 480), filled=filled).html
  assert f"<div>{note}" in page  # shown above the panels
  assert len(_data(page)["frame_numbers"]) == len(p3)


def test_bad_input_is_refused_clearly():
  p3, p2 = _poses(3)
  with pytest.raises(viz.VizError, match="NaN"):
    viz.viewer(p3 * np.nan, p2, (640, 480))
  with pytest.raises(viz.VizError, match="no frames"):
    viz.viewer(p3[:0], p2[:0], (640, 480))
  with pytest.raises(viz.VizError, match="same F, J"):
    viz.viewer(p3, p2[:1], (640, 480))
  with pytest.raises(viz.VizError, match="16 joints, but the h36m skeleton has 17"):
    viz.viewer(p3[:, :16], p2[:, :16], (640, 480))
  with pytest.raises(viz.VizError, match="image_size"):
    viz.viewer(p3, p2, (0, 480))


def test_index_links_every_page(tmp_path):
  entries = [{"file": "track_0.html", "name": "track 0", "info": "12 frames",
              "thumbnail": Image.new("RGB", (1280, 720), (66, 135, 245))},
             {"file": "track_a&b.html", "name": "track a&b"}]
  text = viz.save_index(tmp_path, entries).read_text()
  assert 'href="track_0.html"' in text and 'href="track_a&amp;b.html"' in text
  assert text.count("data:image/jpeg;base64,") == 1 and "12 frames" in text
  assert "default-src 'none'" in text
