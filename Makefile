# Each target builds its own virtual environment first, so a fresh clone needs nothing else.
VENV ?= .venv
PY := $(VENV)/bin/python
RUN_STAMP := $(VENV)/.installed-run
TEST_STAMP := $(VENV)/.installed-test

.PHONY: venv test test-slow train lint format bench clean

venv: $(TEST_STAMP)

$(PY):
	python3 -m venv $(VENV)

# What training needs (numpy, graphviz, tqdm) ...
$(RUN_STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install -q -e .
	touch $(RUN_STAMP)

# ... and what the tests need on top (pytest, hypothesis, ruff, Pillow, matplotlib, selenium).
$(TEST_STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install -q -e '.[test]'
	touch $(TEST_STAMP) $(RUN_STAMP)

test: $(TEST_STAMP)
	$(PY) -m pytest

test-slow: $(TEST_STAMP)
	$(PY) -m pytest -m slow

train: $(RUN_STAMP)
	$(VENV)/bin/tinygrad-mnist train --model mlp --epochs 10

lint: $(TEST_STAMP)
	$(VENV)/bin/ruff check tinygrad_mnist tests examples benchmarks
	$(VENV)/bin/ruff format --check tinygrad_mnist tests examples benchmarks

format: $(TEST_STAMP)
	$(VENV)/bin/ruff check --fix tinygrad_mnist tests examples benchmarks
	$(VENV)/bin/ruff format tinygrad_mnist tests examples benchmarks

# The shipped weights (tinygrad_mnist/weights/) and their manifest: retrain, then check.
.PHONY: weights
weights: $(RUN_STAMP)
	$(PY) benchmarks/make_weights.py

# The draw-a-digit page with the shipped weights (reading drawings needs Pillow).
.PHONY: serve
SERVE_STAMP := $(VENV)/.installed-serve
$(SERVE_STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install -q -e '.[images]'
	touch $(SERVE_STAMP)

serve: $(SERVE_STAMP)
	$(VENV)/bin/tinygrad-mnist serve

bench: $(RUN_STAMP)
	$(PY) benchmarks/train_speed.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .hypothesis
