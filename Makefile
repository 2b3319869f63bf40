# Two commands on a fresh clone:  `make bench` (set up, then the benchmark, report and charts) and `make test`.
# Both create .venv with a supported Python (3.12, 3.11 or 3.10: tensorflow-metal has no wheel for 3.13)
# and install the project into it when pyproject.toml changes.
PYTHON ?= $(shell for p in python3.12 python3.11 python3.10 python3; do command -v $$p >/dev/null 2>&1 && { echo $$p; break; }; done)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
RUN ?= results/runs/$(shell date +%Y%m%d-%H%M%S)
BENCH_ARGS ?=

.PHONY: install bench quick test clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; v = sys.version_info[:2]; sys.exit(0 if (3, 10) <= v < (3, 13) else "Python 3.10-3.12 is needed (found %d.%d); run: make PYTHON=python3.12" % v)'
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
