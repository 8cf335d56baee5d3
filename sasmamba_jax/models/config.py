"""The ``model`` section of a run config: a registered name and its typed options.

The section holds ``name`` and one key per field of that model's config dataclass
(``GLSMambaConfig``, ``LifterConfig``, ...), each a typed placeholder: None means
"the default", the value the task derives from the data (joints, channels, crop
size) or else the registered model's own. So ``--config.model.dim=32`` is checked
and parsed by stock ``ml_collections.config_flags``, a typo fails before anything
is built, and ``model.name`` can change within a family (``posemamba_s`` ->
``posemamba_b``) without dragging the old model's values along.

  c.model = config.default_config("glsmamba_b")      # base_config does this
  c.model.num_frames = 1
  models.create(c.model.name, **config.options(c.model))
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any

import ml_collections
from ml_collections import config_dict

from sasmamba_jax.models import registry


def option_types(name: str) -> dict[str, type]:
  """{option: its type} of model ``name`` (its config's fields but ``name``)."""
  kind = type(registry.get_config(name))
  hints = typing.get_type_hints(kind)
  out = {}
  for field in dataclasses.fields(kind):
    if field.name == "name":
      continue
    hint = hints[field.name]
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
      (hint,) = [a for a in typing.get_args(hint) if a is not type(None)]
    out[field.name] = typing.get_origin(hint) or hint
  return out


def default_config(name: str) -> ml_collections.ConfigDict:
  """The section of model ``name``: every option a typed placeholder (None)."""
  c = ml_collections.ConfigDict()
  c.name = name
  for option, kind in option_types(name).items():
    c[option] = config_dict.placeholder(kind)
  return c


def options(section: ml_collections.ConfigDict) -> dict[str, Any]:
  """The options a section sets (not None), as ``models.create`` keywords."""
  return {k: v for k, v in section.items() if k != "name" and v is not None}


def conform(section: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """The section with the keys of its ``name``'s options, the values it sets kept.

  A config that changes ``model.name`` to a model of another family (a ViTPose for
  a GLSMamba) keeps the other family's keys; this swaps them for the new model's.
  Options a saved config of an earlier version holds at their retired value are
  dropped. Keys the new model does not have stay (at their values), for the run
  config's key check to name.

  Raises:
    ValueError: a retired option with another value than the one the model uses.
  """
  name = section.get("name")
  if name not in registry.MODEL_NAMES:
    return section
  fresh = default_config(name)
  if set(section) == set(fresh):
    return section
  retired = registry.retired_options(name)
  for key, value in section.items():
    if key == "name" or value is None:
      continue
    if key in retired and key not in fresh:
      registry.get_config(name, **{key: value})   # raises unless the retired value
      continue
    with fresh.ignore_type():   # a wrong type is named by validate
      fresh[key] = value
  return fresh


def validate(section: ml_collections.ConfigDict) -> list[str]:
  """Problems with a (conformed) model section, as "key = value: problem" strings:
  an unregistered name, or options the model refuses (its config's own checks)."""
  name = section.get("name")
  if name not in registry.MODEL_NAMES:
    return [f"model.name = {name!r}: must be a registered model: "
            f"{', '.join(registry.MODEL_NAMES)}"]
  given = options(section)
  if set(given) - set(option_types(name)):
    return []   # unknown keys: named by the run config's key check
  try:
    registry.get_config(name, **given)
  except (TypeError, ValueError) as e:
    shown = ", ".join(f"{k}={v!r}" for k, v in sorted(given.items()))
    return [f"model.name = {name!r} with options ({shown}): {e}"]
  return []
