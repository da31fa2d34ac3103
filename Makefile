# The two Quick start commands: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The demo, the docs and the release check each install only their own extra.
DEMO_STAMP := $(VENV)/.installed-demo
DOCS_STAMP := $(VENV)/.installed-docs
RELEASE_STAMP := $(VENV)/.installed-release
HAS_MARIADB_HEADERS := pkg-config --exists libmariadb 2>/dev/null || pkg-config --exists mysqlclient 2>/dev/null
DOCS_OUT := docs/_build
SPHINX := $(BIN)/sphinx-build -W --keep-going -q

.PHONY: demo test lint types unit integration browser matrix ci bench docs docs-serve release-check clean

# Debian/Ubuntu's python3 lacks ensurepip without python3-venv: then make the venv
# without pip and let the system pip install pip into it.
$(BIN)/python:
	$(PYTHON) -m venv $(VENV) || { rm -rf $(VENV) && $(PYTHON) -m venv --without-pip $(VENV) \
		&& $(PYTHON) -m pip --python $(BIN)/python install --quiet pip; }

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@if $(HAS_MARIADB_HEADERS); then \
		$(BIN)/python -m pip install --quiet -e ".[mariadb]"; \
	else \
		echo "note: the MariaDB tests will skip: mysqlclient needs libmariadb-dev and pkg-config"; \
		echo "      (apt-get install libmariadb-dev pkg-config; then rm $(STAMP) and make test)"; \
	fi
	touch $(STAMP)

$(DEMO_STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e ".[demo]"
	touch $@

$(DOCS_STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e ".[docs,testing]"
	touch $@

$(RELEASE_STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e ".[release]" uv
	touch $@

# The example site against a local Meisa: needs only the demo extra (Django, Celery, requests).
demo: $(DEMO_STAMP)
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

# The documentation (docs/), warnings as errors. Internal links are checked by the build
# itself: MyST resolves every [text](page.md#anchor) and reports a missing page or anchor
# as a warning, so it fails. External links are not fetched: no network at build time.
docs: $(DOCS_STAMP)
	rm -rf $(DOCS_OUT)
	$(SPHINX) -b html docs $(DOCS_OUT)/html
	@echo "docs: $(DOCS_OUT)/html/index.html"

DOCS_PORT ?= 8000
docs-serve: docs
	$(BIN)/python -m http.server --bind 127.0.0.1 --directory $(DOCS_OUT)/html $(DOCS_PORT)

# sdist + wheel, twine check, check-wheel-contents, then a smoke test of the wheel installed
# into a clean virtualenv (import, migrate, check, one sync against the local Meisa).
release-check: $(RELEASE_STAMP)
	bash .ci/release-check $(BIN)/python

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache $(DOCS_OUT) dist
