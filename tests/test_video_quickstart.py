"""``make train-video``'s three stages in smoke mode: the runs, the export, the table."""

import json

from experiments import video_quickstart


def test_video_quickstart_smoke(tmp_path):
  work = tmp_path / "video"
  comparison = video_quickstart.run(work, smoke=True, data_dir=str(tmp_path / "data"),
                                    progress=False)
  assert (work / "backbone" / "model" / "model.safetensors").is_file()
  saved = json.loads((work / "comparison.json").read_text())
  assert saved == comparison
  assert saved["gain_total_map"] == (saved["glsmamba"]["Total"]
                                     - saved["baseline"]["Total"])
  # The GLSMamba run is WORKDIR itself: eval/step_N.json with the PoseTrack keys.
  (step,) = sorted((work / "eval").glob("step_*.json"))
  result = json.loads(step.read_text())
  assert {"Head", "Shoulder", "Elbow", "Wrist", "Hip", "Knee", "Ankle",
          "Total"} <= set(result)
  config = json.loads((work / "config.json").read_text())
  assert config["model"]["name"] == "glsmamba_tiny"
  assert config["task"]["backbone"]["checkpoint"] == str(work / "backbone" / "model")
  base = json.loads((work / "baseline" / "config.json").read_text())
  assert base["optimizer"]["freeze"] == ["^backbone/"]
  # Running again resumes every finished stage instead of training anew.
  again = video_quickstart.run(work, smoke=True, data_dir=str(tmp_path / "data"),
                               progress=False)
  assert again == comparison
