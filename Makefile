# Two commands do all the set-up: `make demo` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
SUITE ?= suites/synthetic-fundus.toml

.PHONY: demo test test-all benchmarks validate clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -c 'import sys; sys.exit("Python 3.11+ is required, found " + sys.version.split()[0]) if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install -e '.[test]'
	touch $@

demo: $(BIN)/.installed
	$(BIN)/bench run $(SUITE)

test: $(BIN)/.installed
	$(BIN)/python -m pytest

benchmarks: $(BIN)/.installed
	$(BIN)/python -m pytest tests/benchmarks --benchmark-only --benchmark-columns=median,iqr,rounds

validate: $(BIN)/.installed
	$(BIN)/bench validate suites/*.toml

clean:
	rm -rf $(VENV) .cache
