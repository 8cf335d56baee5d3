"""Evaluation examples built from ../shared/fixtures/h36m_format, as its README says."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest


class _ArraysOnlyUnpickler(pickle.Unpickler):
  """Loads numpy arrays, dtypes, scalars, strings and plain containers; nothing else."""

  _ALLOWED = {
      ("numpy", "ndarray"), ("numpy", "dtype"),
      ("numpy.core.multiarray", "_reconstruct"),
      ("numpy._core.multiarray", "_reconstruct"),
      ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
  }

  def find_class(self, module, name):
    if (module, name) not in self._ALLOWED:
      raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a data file")
    return super().find_class(module, name)


def load_h36m_pickle(path):
  with open(path, "rb") as f:
    return _ArraysOnlyUnpickler(f).load()


@pytest.fixture(scope="session")
def h36m_fixture(shared_fixtures):
  """(stacked examples, predictions, expected metrics, metrics_inputs npz)."""
  folder = shared_fixtures / "h36m_format"
  test = load_h36m_pickle(folder / "h36m_sh_conf_cam_source_final.pkl")["test"]
  reader = np.load(folder / "reader_expected.npz")
  inputs = np.load(folder / "metrics_inputs.npz")
  expected = json.loads((folder / "metrics_expected.json").read_text())
  frame_index = reader["split_id_test"]
  source = np.asarray(test["source"])
  action = np.asarray(test["action"])
  examples = {
      "frame_index": frame_index,
      "input_2d": reader["test_data"],
      "label_3d": reader["test_labels"],
      "camera_resolution": reader["test_hw"],
      "source": source[frame_index[:, 0]],
      "action": action[frame_index[:, 0]],
      "factor_2_5d": test["2.5d_factor"][frame_index],
      "gt_3d_mm": test["joints_2.5d_image"][frame_index],
  }
  return {
      "examples": examples,
      "predictions": inputs["predictions_normalized"],
      "results_all": inputs["results_all_after_evaluate"],
      "expected": expected,
      "reader": reader,
  }
