# Storefront: `make run` and `make test` work on a fresh machine with python3 >= 3.11 and make.
SHELL := /bin/bash
export UV_PYTHON_DOWNLOADS := never
# Installed packages come with their bytecode: every process (API workers, job workers,
# the tests' servers) then starts without compiling them first, also where
# PYTHONDONTWRITEBYTECODE stops Python from caching what it compiles.
export UV_COMPILE_BYTECODE := 1
export UV_PYTHON ?= python3

UV := $(shell command -v uv 2>/dev/null || echo python3 -m uv)
RUN := $(UV) run --frozen

.PHONY: help install run test lint format typecheck openapi bench clean

help:
	@echo "make run        install, migrate and start the API on http://127.0.0.1:8000 (PORT=, HOST=)"
	@echo "make test       install and run the whole test suite"
	@echo "make lint       ruff check, ruff format --check, mypy --strict"
	@echo "make format     apply ruff fixes and formatting"
	@echo "make openapi    regenerate openapi.json (refused on breaking changes unless ALLOW_BREAKING=1)"
	@echo "make bench      benchmark against a bare FastAPI app (wrk, taskset)"

HOST ?= 127.0.0.1
PORT ?= 8000
STOREFRONT := .venv/bin/storefront
INSTALL_UV := $(UV) --version >/dev/null 2>&1 || python3 -m pip install --quiet uv \
	|| python3 -m pip install --quiet --user --break-system-packages uv

.venv/.installed: pyproject.toml uv.lock
	@$(INSTALL_UV)
	$(UV) sync --frozen
	@touch $@

# The service alone, without the test and lint tools; --inexact keeps them where
# `make install` put them, so `make test` still finds them after a `make run`.
.venv/.service: pyproject.toml uv.lock
	@$(INSTALL_UV)
	@$(UV) sync --frozen --no-dev --inexact --quiet
	@touch $@

install: .venv/.installed

# With REDIS_URL the API sends jobs to Redis: a job worker runs alongside (Ctrl-C ends both).
run: .venv/.service
	@LOG_LEVEL=$${LOG_LEVEL:-WARNING} $(STOREFRONT) migrate
	@$(STOREFRONT) serve --host $(HOST) --port $(PORT) --with-job-worker

test: install
	$(RUN) pytest

lint: install
	$(RUN) ruff check .
	$(RUN) ruff format --check .
	$(RUN) mypy

format: install
	$(RUN) ruff check --fix .
	$(RUN) ruff format .

openapi: install
	$(RUN) storefront openapi --output openapi.json --check-breaking $(if $(ALLOW_BREAKING),--allow-breaking,)

bench: install
	$(RUN) python -m bench.run

clean:
	rm -rf .venv .mypy_cache .ruff_cache .pytest_cache .hypothesis var
