# trendcast: `make demo` runs the whole path on the embedded demo; `make test` runs the checks.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup browser demo test lint typecheck unit bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# torch first, pinned: a looser spec pulls gigabytes of CUDA packages
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e ".[ai,tracking,dev]"
	touch $(STAMP)

setup: $(STAMP)

# the report and dashboard tests open pages in Debian's chromium, and the service-state tests
# start a throwaway PostgreSQL (each skipped, with the reason, where it cannot be had)
browser:
	@command -v chromium >/dev/null 2>&1 && ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		($$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium postgresql >/dev/null) \
		|| echo "chromium or postgresql could not be installed: their tests will skip"; }

demo: setup
	$(BIN)/trendcast run --out trendcast-out --jobs 2

lint: setup
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

typecheck: setup
	$(BIN)/mypy

unit: setup browser
	$(BIN)/pytest -n 2 -q

test: lint typecheck unit

bench: setup
	$(BIN)/python benchmarks/online_retail_models.py

clean:
	rm -rf trendcast-out trendcast.duckdb .pytest_cache .mypy_cache .ruff_cache
