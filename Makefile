# Two commands do everything on a fresh machine with Python 3.11+:
#   make train   # install into .venv, then run the quickstart job on built-in data
#   make test    # install into .venv with the test extra, then run the whole suite
PYTHON ?= python3
VENV ?= .venv
VPY := $(VENV)/bin/python
WORKDIR ?= runs/quickstart
PYTEST_ARGS ?=

.PHONY: train train-video test install install-test benchmark-scan notebooks clean

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

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

# The quickstart: a small SasMamba on the built-in synthetic dataset (built first if
# needed), trained and evaluated on the CPU in about 10 minutes (README, Quickstart).
train: $(VENV)/.installed
	$(VPY) -m experiments.train --config=configs/synthetic_sasmamba.py --workdir=$(WORKDIR)

# The video quickstart: a small ViTPose on single frames, then the per-frame baseline,
# GLSMamba on one frame and GLSMamba on 5 frames on its frozen features, compared;
# about 10 minutes on 2 CPU cores (README, Video quickstart).
train-video: $(VENV)/.installed
	$(VPY) -m experiments.video_quickstart --workdir=$(if $(filter command line environment,$(origin WORKDIR)),$(WORKDIR),runs/video)

# Two pytest workers: most test time is single-threaded XLA compilation.
test: $(VENV)/.installed-test
	$(VPY) -m pytest -n 2 $(PYTEST_ARGS)

# Regenerates notebooks/*.ipynb (without outputs) from their jupytext sources
# notebooks/*.py; edit the .py files. tests/test_notebooks.py checks they agree.
notebooks: $(VENV)/.installed-test
	$(VPY) -m jupytext --update --to ipynb notebooks/[0-9]*.py

benchmark-scan: $(VENV)/.installed
	$(VPY) -m experiments.benchmark_scan

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
