# Two commands do all the set-up: `make demo` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
SUITE ?= suites/demo.toml

.PHONY: demo test test-all benchmarks gpu-check validate clean

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

# On a CUDA machine: every test marked gpu, then the benchmarks on the GPU (results/benchmarks/*gpu.md).
gpu-check: $(BIN)/.installed
	$(BIN)/python -c 'import sys, torch; sys.exit(None if torch.cuda.is_available() else "gpu-check needs a CUDA device; torch sees none")'
	$(BIN)/python -m pytest -m gpu -rs
	$(BIN)/python -m pytest tests/benchmarks --benchmark-only --benchmark-columns=median,iqr,rounds

validate: $(BIN)/.installed
	$(BIN)/bench validate suites/*.toml

clean:
	rm -rf $(VENV) .cache
