# mintnet: `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.stamp-install
ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help install test test-fast train eval results bench bench-gpu gpu-check docs docs-serve lint format clean clean-logs

help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,docs]'
	touch $(STAMP)

install: $(STAMP) ## create .venv and install mintnet with its dev tools (once)

# One pytest worker per CPU (pytest-xdist); a test file stays on one worker, so its module
# fixtures (a trained model, an uninterrupted reference run) are built once.
PYTEST_WORKERS ?= -n auto --dist loadfile

test: $(STAMP) ## run the whole test suite (slow end-to-end tests included), one worker per CPU
	$(PY) -m pytest $(PYTEST_WORKERS)

test-fast: $(STAMP) ## run the tests, skipping those marked slow
	$(PY) -m pytest $(PYTEST_WORKERS) -m "not slow"

train: $(STAMP) ## train a MintNet flow on the embedded digits data, offline, on CPU (ARGS="key=value ...")
	$(PY) -m mintnet.train experiment=digits_density $(ARGS)

eval: $(STAMP) ## evaluate a checkpoint on the test split (ARGS="ckpt_path=...")
	$(PY) -m mintnet.eval $(ARGS)

results: $(STAMP) ## train the Fashion-MNIST runs without a record (14 trainings, most ~40 min on one CPU thread; resumable), record them in reproduction/records/, write docs/results.md (ARGS="--only NAME", "--budget MINUTES", --report-only, --quick)
	$(PY) -m reproduction $(ARGS)

bench: $(STAMP) ## run the benchmarks (ratios measured in one process), results in benchmarks/results/
	$(PY) -m benchmarks $(ARGS)

bench-gpu: $(STAMP) ## the paper's models on a GPU: train step fp32/tf32/bf16 x eager/compiled, sampling, layer vs floor
	$(PY) -m benchmarks --only device --device cuda $(ARGS)

gpu-check: $(STAMP) ## on a CUDA machine: the CUDA tests, bench-gpu and a short trainer=gpu run (logs in gpu-check/)
	PYTHON=$(PY) .ci/gpu-check gpu-check

docs: $(STAMP) ## build the user guide and API reference into site/ (offline; open site/index.html)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict

docs-serve: $(STAMP) ## serve the docs at http://127.0.0.1:8000, rebuilt on every change
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs serve

lint: $(STAMP) ## check style with ruff
	$(PY) -m ruff check src tests benchmarks reproduction notebooks docs/hooks
	$(PY) -m ruff format --check src tests benchmarks reproduction notebooks docs/hooks

format: $(STAMP) ## format the code with ruff
	$(PY) -m ruff check --fix src tests benchmarks reproduction docs/hooks
	$(PY) -m ruff format src tests benchmarks reproduction docs/hooks

clean: ## remove the venv, caches and build outputs (your runs in logs/ stay: make clean-logs)
	rm -rf $(VENV) .pytest_cache .ruff_cache outputs multirun wandb gpu-check site build

clean-logs: ## delete logs/: every run folder, checkpoint and offline W&B run (asks first)
	@read -r -p "Delete logs/ with every run, checkpoint and offline W&B run in it? [y/N] " answer; \
	if [ "$$answer" = y ]; then rm -rf logs && echo "logs/ deleted"; else echo "kept logs/"; fi
