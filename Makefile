# Each target builds its own virtual environment first, so a fresh clone needs nothing else.
VENV ?= .venv
PY := $(VENV)/bin/python
RUN_STAMP := $(VENV)/.installed-run
TEST_STAMP := $(VENV)/.installed-test
BENCH_STAMP := $(VENV)/.installed-bench

.PHONY: venv test test-slow train lint format bench clean

# A `python3 -m venv` that failed half way (no python3-venv package, disk full, Ctrl-C) leaves a
# $(VENV) without a working pip, on which every later target would fail: detect it and start over.
ifneq ($(wildcard $(VENV)),)
ifneq ($(shell $(PY) -c 'import pip' >/dev/null 2>&1 && echo ok),ok)
$(info $(VENV) has no working python/pip (an interrupted or failed `python3 -m venv`?): rebuilding it)
$(shell rm -rf $(VENV))
endif
endif

venv: $(TEST_STAMP)

$(PY):
	python3 -m venv $(VENV) || { rm -rf $(VENV); echo "python3 -m venv failed: on Debian/Ubuntu install python3-venv (apt-get install python3-venv)" >&2; exit 1; }
	$(PY) -m pip --version >/dev/null || { rm -rf $(VENV); echo "$(VENV) has no pip: on Debian/Ubuntu install python3-venv" >&2; exit 1; }

# What the README's commands need: numpy, graphviz, tqdm, threadpoolctl, plus Pillow (predict) and
# matplotlib (plot) ...
$(RUN_STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install -q -e '.[cli]'
	touch $(RUN_STAMP)

# ... and what the tests need on top (pytest, hypothesis, ruff, selenium).
$(TEST_STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install -q -e '.[cli,test]'
	touch $(TEST_STAMP) $(RUN_STAMP)

# ... and PyTorch for the benchmark's comparison column.
$(BENCH_STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install -q -e '.[cli,bench]'
	touch $(BENCH_STAMP) $(RUN_STAMP)

# The test suite sets one BLAS thread itself (tests/conftest.py, tinygrad_mnist/threads.py).
test: $(TEST_STAMP)
	$(PY) -m pytest

test-slow: $(TEST_STAMP)
	$(PY) -m pytest -m slow

train: $(RUN_STAMP)
	$(VENV)/bin/tinygrad-mnist train --model mlp

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

bench: $(BENCH_STAMP)
	$(PY) benchmarks/train_speed.py

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .hypothesis
