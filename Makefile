# Every target builds its own virtual environment from pyproject.toml; nothing installed by hand is assumed.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: demo test lint bench bench-quick ci clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

demo: $(BIN)/.installed  ## the main job: record a scripted agent session on the embedded default and print it
	$(BIN)/asm demo

test: $(BIN)/.installed  ## the whole test suite
	$(BIN)/pytest

lint: $(BIN)/.installed
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy src

bench: $(BIN)/.installed  ## every benchmark at full size (minutes)
	$(BIN)/python -m bench

bench-quick: $(BIN)/.installed  ## every benchmark at tiny sizes, no thresholds (CI)
	$(BIN)/python -m bench --quick

clean:
	rm -rf $(VENV) .asm .pytest_cache .mypy_cache .ruff_cache
