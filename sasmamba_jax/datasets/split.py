"""``Split``: one split of a built dataset, typed, as tasks and pipelines see it.

A split is its examples (a random-access source: ``len`` and ``[i]`` -> dict of
arrays), where they come from (``dataset``, ``split``), the dataset's metadata
(``image_root``, keypoint names, ...) and the protocol's ground truth when the
evaluation needs files beside the examples (a PoseTrack annotation folder, a COCO
annotation file). Tasks read these fields; nothing probes a source for attributes.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping, Sequence


@dataclasses.dataclass(frozen=True)
class Split:
  """One split of a dataset.

  Attributes:
    examples: the examples: ``len(examples)``, ``examples[i]`` -> dict of arrays.
    dataset: the registered "dataset/config" name ("" for examples made in memory).
    split: the split as asked for, TFDS slicing included ("val", "train[:10%]").
    version: the built dataset's version ("1.1.0").
    metadata: the dataset's metadata (``builder.info.metadata``).
    ground_truth: the split's ground-truth files of its evaluation protocol, or
      None when the protocol needs only the examples.
  """

  examples: Sequence[Mapping[str, Any]]
  dataset: str = ""
  split: str = ""
  version: str = ""
  metadata: Mapping[str, Any] = dataclasses.field(default_factory=dict)
  ground_truth: str | None = None

  def __len__(self) -> int:
    return len(self.examples)

  @property
  def base_split(self) -> str:
    """The split's name without TFDS slicing: "val" for "val[:10%]"."""
    return self.split.split("[")[0]

  def with_examples(self, examples: Sequence[Mapping[str, Any]]) -> Split:
    """The same split (metadata, ground truth) over other examples (e.g. a cache)."""
    return dataclasses.replace(self, examples=examples)


def as_split(split_or_examples: Split | Sequence[Mapping[str, Any]]) -> Split:
  """A ``Split`` as given, or examples held in memory as one."""
  if isinstance(split_or_examples, Split):
    return split_or_examples
  return Split(split_or_examples)
