# Every target works on a fresh machine with only Python 3.11+: the venv is made on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: test lint typecheck pytest run emulator screenshot bench clean

$(INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(INSTALLED)

test: lint typecheck pytest

lint: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(INSTALLED)
	$(BIN)/mypy --strict pc_middleware

pytest: $(INSTALLED)
	$(BIN)/pytest

# The demo shop on http://127.0.0.1:8000 with the local emulator (or the real PureClarity when
# PURECLARITY_ACCESS_KEY and PURECLARITY_SECRET_KEY are set). One Ctrl-C stops both.
run: $(INSTALLED)
	$(BIN)/python -m example_app

emulator: $(INSTALLED)
	$(BIN)/python -m pc_middleware.emulator

# The benchmark suite (not part of `make test`): about 4.5 minutes on 2 cores; writes docs/benchmarks.md
# and docs/benchmarks.png. Installs wrk (Debian) and the `bench` extra on first use.
bench: $(VENV)/.bench-installed
	scripts/apt-install /usr/bin/wrk wrk
	$(BIN)/python -m bench

$(VENV)/.bench-installed: $(INSTALLED)
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	touch $@

screenshot: $(INSTALLED)
	$(BIN)/python scripts/screenshot.py

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache test-artifacts
