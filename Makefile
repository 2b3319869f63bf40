# Two commands on a fresh clone:  `make bench` (set up, then the benchmark, report and charts) and `make test`.
# Both create .venv with a supported Python (3.12, 3.11 or 3.10: tensorflow-metal has no wheel for 3.13)
# and install the project into it when pyproject.toml changes.
# The first of python3, python3.12, python3.11, python3.10 that runs and is 3.10-3.12 (a pyenv shim may exist
# without a working interpreter behind it, so each candidate is run, not just looked up).
PYTHON ?= $(shell for p in python3 python3.12 python3.11 python3.10; do $$p -c 'import sys; sys.exit(not (3, 10) <= sys.version_info[:2] < (3, 13))' >/dev/null 2>&1 && { echo $$p; break; }; done)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
RUN ?= results/runs/$(shell date +%Y%m%d-%H%M%S)
BENCH_ARGS ?=

.PHONY: install bench quick test clean

$(STAMP): pyproject.toml
	@test -n "$(PYTHON)" || { echo "Python 3.10-3.12 is needed (tensorflow-metal has no wheel for 3.13); install one, or run: make PYTHON=/path/to/python3.12"; exit 2; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
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

test: $(STAMP)
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) .pytest_cache .benchmarks
