# Kyso — the two commands a newcomer needs are `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Debian packages the test suite drives as real tools.
TEST_DEBS := openssl postgresql softhsm2 poppler-utils qpdf zbar-tools libnss3-tools fonts-dejavu-core gcc libc6-dev chromium chromium-driver faketime jq ghostscript
TEST_TOOLS := openssl initdb softhsm2-util pdfsig pdftoppm qpdf zbarimg certutil gcc chromium faketime jq gs
PYTEST_WORKERS ?= auto

.PHONY: run test test-dates fuzz lint lock bench venv test-tools clean help

help:
	@echo "make run    - install into .venv, kyso init, kyso serve on http://127.0.0.1:8000 (SQLite in ./var)"
	@echo "make test   - install what the suite needs (Debian tools too) and run it all"
	@echo "make test-dates - the whole suite with the clock 400 days ahead (faketime)"
	@echo "make fuzz   - schemathesis over every operation, SQLite and PostgreSQL, FUZZ_EXAMPLES (100) each"
	@echo "make lint   - ruff, the import-linter dependency contracts, mypy and pip-audit"
	@echo "make lock   - re-pin requirements.lock from pyproject.toml (docs/dependencies.md)"
	@echo "make bench  - benchmarks; figures go to docs/benchmarks.md by hand"

# Pinned, hash-checked versions from requirements.lock (Python 3.11, Linux x86_64), then Kyso itself.
$(STAMP): pyproject.toml requirements.lock
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) is needed (set PYTHON=...)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --require-hashes -r requirements.lock
	$(BIN)/pip install --quiet --no-deps -e .
	touch $(STAMP)

venv: $(STAMP)

run: $(STAMP)
	$(BIN)/kyso init
	$(BIN)/kyso serve

# Installs the Debian packages the tests use when a tool is missing (needs root, as in CI).
test-tools:
	@missing=""; for tool in $(TEST_TOOLS); do \
	  command -v $$tool >/dev/null || ls /usr/lib/postgresql/*/bin/$$tool >/dev/null 2>&1 || missing=1; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages: $(TEST_DEBS)"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $(TEST_DEBS); \
	fi

test: $(STAMP) test-tools
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) -q

# The whole suite with the clock 400 days ahead (expiring certificates, CRLs, passes). Installs happen
# first, on the real clock. libfaketime shifts the monotonic clock by the same constant offset;
# FAKETIME_DONT_FAKE_MONOTONIC must stay unset.
test-dates: $(STAMP) test-tools
	env -u FAKETIME_DONT_FAKE_MONOTONIC faketime -f +400d $(MAKE) test

# Schemathesis with a larger example budget than `make test` gives it (docs/security.md, "Fuzzing").
FUZZ_EXAMPLES ?= 100
fuzz: $(STAMP) test-tools
	KYSO_SCHEMATHESIS_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/python -m pytest -p no:randomly -q tests/security/test_schemathesis.py tests/api/test_parameter_extremes.py

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy  # the product packages; settings in pyproject.toml [tool.mypy]
	$(BIN)/python .ci/audit_dependencies.py  # fails on a known vulnerability; says so if PyPI is unreachable

# Re-pins every dependency within pyproject.toml's ranges; see docs/dependencies.md.
lock: $(STAMP)
	$(BIN)/pip install --quiet pip-tools
	$(BIN)/pip-compile --quiet --generate-hashes --allow-unsafe --strip-extras --no-emit-index-url \
	  --no-emit-find-links --extra test --extra dev -o requirements.lock pyproject.toml

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
