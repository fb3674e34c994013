# Each target builds its own virtual environment first, so a fresh clone needs nothing else.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: venv test test-slow train lint format bench clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

test: $(STAMP)
	$(PY) -m pytest

test-slow: $(STAMP)
	$(PY) -m pytest -m slow

train: $(STAMP)
	$(VENV)/bin/tinygrad-mnist train --model mlp --epochs 10

lint: $(STAMP)
	$(VENV)/bin/ruff check tinygrad_mnist tests examples benchmarks
	$(VENV)/bin/ruff format --check tinygrad_mnist tests examples benchmarks

format: $(STAMP)
	$(VENV)/bin/ruff check --fix tinygrad_mnist tests examples benchmarks
	$(VENV)/bin/ruff format tinygrad_mnist tests examples benchmarks

bench: $(STAMP)
	$(PY) benchmarks/train_speed.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .hypothesis
