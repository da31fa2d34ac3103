# The two Quick start commands: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint types unit integration browser matrix ci bench clean

# Debian/Ubuntu's python3 lacks ensurepip without python3-venv: then make the venv
# without pip and let the system pip install pip into it.
$(BIN)/python:
	$(PYTHON) -m venv $(VENV) || { rm -rf $(VENV) && $(PYTHON) -m venv --without-pip $(VENV) \
		&& $(PYTHON) -m pip --python $(BIN)/python install --quiet pip; }

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python example_project/demo.py $(DEMO_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

types: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest

test: lint types unit

# Real PostgreSQL, Redis, RabbitMQ, Celery worker/beat processes, local Meisa over HTTP.
integration: $(STAMP)
	$(BIN)/pytest -v -m integration tests/integration

# The admin in headless Chromium (Debian's chromium package) through Playwright.
browser: $(STAMP)
	$(BIN)/pytest -v -s -m browser tests/browser

# Every supported Python x Django pair (noxfile.py); slow: one virtualenv each.
matrix: $(STAMP)
	$(BIN)/nox -s tests

# Exactly what CI runs (installs apt packages and starts services: needs root).
ci:
	bash .ci/run

# The four benchmarks against their limits (benchmarks/README.md); needs PostgreSQL + Redis.
bench: $(STAMP)
	$(BIN)/python -m benchmarks $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
