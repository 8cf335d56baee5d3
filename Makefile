# Two commands do everything on a fresh machine with Python 3.11+:
#   make train   # install into .venv, then run the quickstart job on built-in data
#   make test    # install into .venv with the test extra, then run the whole suite
PYTHON ?= python3
VENV ?= .venv
VPY := $(VENV)/bin/python
WORKDIR ?= runs/quickstart
PYTEST_ARGS ?=
# The GPU/TPU compiler plugins of the ahead-of-time compile checks (tests/aot), kept
# beside the environment: in it, the CUDA plugin would log at every JAX import.
AOT := $(VENV)/aot

.PHONY: train train-video test test-main test-aot install install-test install-aot \
	benchmark-scan plan-memory check-gpu notebooks clean

$(VPY):
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "sasmamba_jax needs Python 3.11 or newer; set PYTHON=/path/to/python3.11")'
	$(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install -q --upgrade pip

# Stamps re-run pip only when the package metadata changed.
$(VENV)/.installed: $(VPY) setup.cfg pyproject.toml
	$(VPY) -m pip install -q -e .
	@touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(VPY) -m pip install -q -e '.[test]'
	@touch $@

# The plugins matching the installed jaxlib (python -m sasmamba_jax.aot.requirements).
# Without a network they are skipped: tests/aot then skip and say why.
$(VENV)/.installed-aot: $(VENV)/.installed
	if $(VPY) -m pip install -q --no-deps --upgrade --target $(AOT) \
	    $$($(VPY) -m sasmamba_jax.aot.requirements); then touch $@; \
	else echo "warning: the compiler plugins did not install; tests/aot will skip"; fi

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test
install-aot: $(VENV)/.installed-aot

# The quickstart: a small SasMamba on the built-in synthetic dataset (built first if
# needed), trained and evaluated on the CPU in about 10 minutes (README, Quickstart).
train: $(VENV)/.installed
	$(VPY) -m experiments.train --config=configs/synthetic_sasmamba.py --workdir=$(WORKDIR)

# The video quickstart: a small ViTPose on single frames, then the per-frame baseline,
# GLSMamba on one frame and GLSMamba on 5 frames on its frozen features, compared;
# about 10 minutes on 2 CPU cores (README, Video quickstart).
train-video: $(VENV)/.installed
	$(VPY) -m experiments.video_quickstart --workdir=$(if $(filter command line environment,$(origin WORKDIR)),$(WORKDIR),runs/video)

# Two pytest workers: most test time is single-threaded XLA compilation. The suite,
# then the ahead-of-time compiles for an H100 and a TPU v5e with the plugins on the
# path. With PYTEST_ARGS a part that selects no test (pytest's exit code 5) is fine.
test: test-main test-aot

test-main: $(VENV)/.installed-test
	$(VPY) -m pytest -n 2 --ignore=tests/aot $(PYTEST_ARGS) $(TOLERATE_EMPTY)

test-aot: $(VENV)/.installed-test $(VENV)/.installed-aot
	PYTHONPATH=$(AOT) $(VPY) -m pytest -n 2 tests/aot $(PYTEST_ARGS) $(TOLERATE_EMPTY)

TOLERATE_EMPTY = $(if $(strip $(PYTEST_ARGS)),|| [ $$? -eq 5 ],)

# The memory plan of every recipe config on an H100, a v5e chip, 8 H100s and a v5e
# 2x4, compiled on this machine (benchmarks/results/plan_memory.json).
plan-memory: $(VENV)/.installed-aot
	PYTHONPATH=$(AOT) $(VPY) -m experiments.plan_memory --table

# Regenerates notebooks/*.ipynb (without outputs) from their jupytext sources
# notebooks/*.py; edit the .py files. tests/test_notebooks.py checks they agree.
notebooks: $(VENV)/.installed-test
	$(VPY) -m jupytext --update --to ipynb notebooks/[0-9]*.py

benchmark-scan: $(VENV)/.installed
	$(VPY) -m experiments.benchmark_scan

# On a machine with a CUDA GPU: the on-device check (sasmamba_jax/benchmarking/README.md).
check-gpu: $(VENV)/.installed
	$(VPY) -m pip install -q -e '.[cuda12]'
	$(VPY) -m experiments.check_gpu

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
