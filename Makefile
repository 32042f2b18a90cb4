# Every target works on a fresh machine with only Python 3.11+: the venv is made on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: test lint typecheck pytest run clean

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

run: $(INSTALLED)
	$(BIN)/python -m example_app

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
