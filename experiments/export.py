"""Exports a model directory for downstream JAX projects (sasmamba_jax.save_pretrained).

  python -m experiments.export --checkpoint=runs/quickstart --output=exports/quickstart
  python -m experiments.export --checkpoint=runs/sas --latest --output=exports/sas_last
  python -m experiments.export --checkpoint=checkpoint/posemamba_s/best_epoch.bin \\
      --output=exports/posemamba_s

The directory holds config.json, model.safetensors, forward.jaxexport and a model card
(README.md); load it with sasmamba_jax.load(DIR), or with plain JAX. --output must be
a new or empty folder (or hold an earlier export, replaced with --overwrite): a run
or any other files there are refused and never written over.
"""

import json
import pathlib

from absl import flags

from sasmamba_jax import cli
from sasmamba_jax import loading
from sasmamba_jax.checkpoints import pretrained
from sasmamba_jax.checkpoints import sources

_CHECKPOINT = flags.DEFINE_string(
    "checkpoint", None, "A workdir of experiments.train, a model directory, or an "
    "official PoseMamba / SasMamba checkpoint.")
_OUTPUT = flags.DEFINE_string("output", None, "The model directory to write.")
_LATEST = flags.DEFINE_bool("latest", False,
                            "Export a run's latest checkpoint instead of its best.")
_OVERWRITE = flags.DEFINE_bool("overwrite", False, "Replace an earlier export in "
                               "--output.")
flags.mark_flags_as_required(["checkpoint", "output"])


def _run_record(run: pathlib.Path, latest: bool):
  """(source, metrics) of a run directory: the checkpoint's step and evaluation."""
  manager = run / ("checkpoints" if latest or not (run / "best").is_dir() else "best")
  steps = sorted(int(p.name) for p in manager.glob("[0-9]*") if p.name.isdigit())
  if not steps:
    return {"checkpoint": str(run)}, None
  step = steps[-1]
  source = {"checkpoint": str(run), "kind": manager.name, "step": step}
  results = run / "eval" / f"step_{step}.json"
  if not results.is_file():
    return source, None
  try:
    metrics = json.loads(results.read_text())
    if not isinstance(metrics, dict):
      raise ValueError(f"a JSON {type(metrics).__name__}, not an object")
  except (OSError, ValueError, RecursionError) as e:
    print(f"{results} is unreadable ({e}): exported without its results")
    return source, None
  return source, metrics


def main(argv):
  cli.reject_extra_args(argv)
  checkpoint = pathlib.Path(_CHECKPOINT.value)
  # Before the (slow) load: an --output that must not be written to is refused.
  pretrained.check_target(_OUTPUT.value, overwrite=_OVERWRITE.value)
  model = loading.load(checkpoint, latest=_LATEST.value)
  if sources.is_run_dir(checkpoint):
    source, metrics = _run_record(checkpoint, _LATEST.value)
  else:
    source, metrics = {"checkpoint": str(checkpoint)}, None
  out = loading.save_pretrained(model, _OUTPUT.value, metrics=metrics, source=source,
                                overwrite=_OVERWRITE.value)
  print(f"exported {model.config.name or type(model).__name__} to {out}")


if __name__ == "__main__":
  cli.run(main)
