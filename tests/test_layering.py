"""The one-way flow of the house (README, Architecture), enforced on every module.

Each package may import itself and the packages listed for it; anything else is an
upward (or sideways) import. Leaves (skeletons, metrics, imaging) import no package
module; codecs sit on imaging.
"""

import ast
import pathlib

import sasmamba_jax

PACKAGE = pathlib.Path(sasmamba_jax.__file__).resolve().parent

# What each top-level module or package of sasmamba_jax may import (besides itself).
ALLOWED = {
    "version": set(),
    "skeletons": set(),
    "metrics": set(),
    "imaging": set(),
    "codecs": {"imaging"},
    "ops": set(),
    "nn": {"ops"},
    "models": {"nn", "ops", "skeletons"},
    "datasets": {"skeletons", "imaging", "codecs"},
    "evaluation": {"metrics", "skeletons"},
    "checkpoints": {"models", "nn", "ops", "skeletons", "version"},
    "topdown": {"imaging", "codecs", "models", "nn", "ops", "skeletons", "checkpoints",
                "evaluation", "metrics", "version"},
    "tasks": {"models", "nn", "ops", "datasets", "evaluation", "metrics",
              "skeletons", "imaging", "codecs", "checkpoints", "topdown", "version"},
    "train": {"tasks", "models", "nn", "ops", "datasets", "evaluation", "metrics",
              "skeletons", "checkpoints", "imaging", "codecs", "topdown"},
    "benchmarking": {"inference", "loading", "viz", "topdown", "train", "tasks",
                     "models", "nn", "ops", "datasets", "evaluation", "metrics",
                     "skeletons", "checkpoints", "imaging", "codecs"},
    "cli": {"train", "tasks", "models", "nn", "ops", "datasets", "evaluation",
            "metrics", "skeletons", "checkpoints", "imaging", "codecs", "topdown"},
    "loading": {"train", "tasks", "models", "nn", "ops", "datasets", "evaluation",
               "metrics", "skeletons", "checkpoints", "imaging", "codecs"},
    # Compiles the trainer's steps for machines we lack; plans their memory.
    "aot": {"benchmarking", "train", "tasks", "models", "nn", "ops", "datasets",
            "evaluation", "metrics", "skeletons", "checkpoints", "imaging", "codecs",
            "topdown", "version"},
    "viz": {"skeletons"},
    "inference": {"loading", "viz", "topdown", "train", "tasks", "models", "nn", "ops",
                  "datasets", "evaluation", "metrics", "skeletons", "checkpoints",
                  "imaging", "codecs"},
}


def _owner(path: pathlib.Path) -> str:
  rel = path.relative_to(PACKAGE)
  return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def _imports(path: pathlib.Path):
  for node in ast.walk(ast.parse(path.read_text())):
    if isinstance(node, ast.ImportFrom) and node.module:
      names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
      yield node.lineno, names[0] if node.module != "sasmamba_jax" else names[1:]
    elif isinstance(node, ast.Import):
      for a in node.names:
        yield node.lineno, a.name


def _targets(name):
  for n in [name] if isinstance(name, str) else name:
    if n.startswith("sasmamba_jax."):
      yield n.split(".")[1]


def test_every_module_has_a_rule():
  owners = {_owner(p) for p in PACKAGE.rglob("*.py")} - {"__init__"}
  assert owners <= set(ALLOWED), f"add a layering rule for {owners - set(ALLOWED)}"


def test_imports_flow_one_way():
  problems = []
  for path in sorted(PACKAGE.rglob("*.py")):
    owner = _owner(path)
    if owner == "__init__":
      continue
    for line, name in _imports(path):
      for target in _targets(name):
        if target != owner and target not in ALLOWED[owner]:
          problems.append(f"{path.relative_to(PACKAGE.parent)}:{line} imports "
                          f"sasmamba_jax.{target} ({owner} may use "
                          f"{sorted(ALLOWED[owner]) or 'nothing'})")
  assert not problems, "\n".join(problems)


def test_the_rules_have_no_cycle():
  def reaches(start, goal, seen=()):
    return any(n == goal or (n not in seen and reaches(n, goal, seen + (n,)))
               for n in ALLOWED[start])
  assert not [name for name in ALLOWED if reaches(name, name)]
