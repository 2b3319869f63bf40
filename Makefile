# Two commands on a fresh clone:  `make bench` (set up, then the benchmark, report and charts) and `make test`.
# Both create .venv with a supported Python (3.12, 3.11 or 3.10: tensorflow-metal has no wheel for 3.13)
# and install the project into it when pyproject.toml changes.
# scripts/find-python.sh chooses the Python: the first of python3.12, python3.11, python3.10, python3 that runs and
# is 3.10-3.12; else uv (`uv venv --python 3.12` fetches a managed Python); else uv installed into .uv-bootstrap
# by whatever Python exists (the Xcode 3.9, Homebrew's 3.13); else it prints the commands that fix it and stops.
# `make PYTHON=/path/to/python3.12 …` skips the search (the interpreter must still be 3.10-3.12). An existing .venv
# is kept only when its Python runs and is 3.10-3.12; one whose Python link dangles is made again; one with another
# Python stops with the fix (rm -rf .venv).
PYTHON ?=
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
RUN ?= results/runs/$(shell date +%Y%m%d-%H%M%S)
BENCH_ARGS ?=

.PHONY: install bench quick test test-fast standin-gpu clean

$(STAMP): pyproject.toml
	@PYTHON="$(PYTHON)" sh scripts/find-python.sh --create $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

bench: $(STAMP)
	$(BIN)/simplenn-bench info
	$(BIN)/simplenn-bench run --out $(RUN) $(BENCH_ARGS)
	$(BIN)/simplenn-bench report $(RUN)

quick:
	$(MAKE) bench BENCH_ARGS=--quick

# The pytest session builds the stand-in GPU itself (cached; docs/standin-gpu.md) and loads it through SIMPLENN_PLUGIN.
test: $(STAMP)
	$(BIN)/python -m pytest

# The edit loop: every test not marked slow (real runs, CLI subprocesses, training, resolvers stay out).
test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not slow"

# The stand-in GPU: a TensorFlow PluggableDevice built from native/standin_gpu/ (rebuilt only when its sources, the
# compiler or TensorFlow change). Prints the library's path: SIMPLENN_PLUGIN=<it> simplenn-bench info
standin-gpu: $(STAMP)
	@$(BIN)/python -m simplenn.system.standin

clean:
	rm -rf $(VENV) .uv-bootstrap .pytest_cache .benchmarks build
