# assimilax: `make run` and `make test` set everything up on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test test-slow test-dapper lint bench docs clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test,docs]"
	touch $(STAMP)

run: install
	$(BIN)/assimilax run

# Both suites run on every core (pytest-xdist, one test file per worker at a time, each
# worker computing on one thread: tests/conftest.py) and print their ten slowest tests.
# The default suite compiles at XLA's backend optimisation level 0 (tests/conftest.py):
# its programs are compiled more than they run; the slow suite keeps the default level.
TEST_WORKERS ?= auto

test: install
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile

test-slow: install
	ASSIMILAX_TEST_XLA_OPT=default $(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile -m "slow and not paper"

# One analysis of DAPPER's own EnKF('Sqrt'), EnKF('PertObs') and EnKF_N against ours, on
# the same inputs: installs the dapper extra into the venv (after the other suites: with
# DAPPER importable, the benchmarks' tests would also run DAPPER's references).
test-dapper: install
	$(BIN)/python -m pip install --quiet -e ".[test,docs,dapper]"
	$(BIN)/python -m pytest -q tests/test_dapper_oracle.py

lint: install
	$(BIN)/ruff check src tests benchmarks

bench: install
	$(BIN)/python benchmarks/bench_filters.py

# The documentation site into site/ (strict: any warning fails). A .venv made before the
# docs extra existed gets it here.
docs: install
	$(BIN)/python -c "import mkdocs, mkdocstrings, material, mkdocstrings_handlers.python" 2>/dev/null || \
		$(BIN)/python -m pip install --quiet -e ".[test,docs]"
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict -d site

.PHONY: reproduction reproduction-paper
# docs/reproduction.md from the full runs of every preset into runs/reproduce/NAME (about
# 10 minutes on 2 CPU cores). A finished member is reused only if the same code computed it
# (commit, uncommitted changes, backend, jax/numpy/equinox/optax versions); stale ones are
# recomputed. The hybrid presets, whose full versions train networks per seed (20 minutes
# to hours), are listed as not run; `make reproduction-paper` runs them too. Exits 1 if a
# claim's outcome is not the expected one.
reproduction: install
	$(BIN)/assimilax reproduce --all --table docs/reproduction.md

reproduction-paper: install
	$(BIN)/assimilax reproduce --all --paper --table docs/reproduction.md

clean:
	rm -rf $(VENV) runs site .pytest_cache
