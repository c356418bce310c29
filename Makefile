# agrifin — two commands: `make run` and `make test` (each bootstraps what it needs).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
LOCK := requirements.lock
STAMP := $(VENV)/.installed
PYTEST_ARGS ?= -n 2 --dist loadgroup

.PHONY: install run test lint bench soak soak-ci lock catalogues clean

$(STAMP): $(LOCK) pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r $(LOCK)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	@touch $(STAMP)

install: $(STAMP)

## make run: install, prepare ./var (keys, databases, API keys, champion models), start everything
run: install
	$(BIN)/agrifin bootstrap
	exec $(BIN)/agrifin run

## make test: install, lint (ruff, mypy strict, import-linter), then the whole suite (PostgreSQL too when
## AGRIFIN_TEST_POSTGRES_URL is set)
test: install lint
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## make lint: ruff (rules and format), mypy strict, and the service template's import contracts
lint: install
	$(BIN)/ruff check services shared tests bench migrations
	$(BIN)/ruff format --check services shared tests bench migrations
	$(BIN)/mypy
	$(BIN)/lint-imports

## make bench: every benchmark, JSON on stdout (see README for options); the soak runs under make soak
bench: install
	@for b in bench/*.py; do case $$b in bench/soak.py|bench/local_system.py) continue;; esac; echo "== $$b"; $(BIN)/python $$b || exit 1; done

## make soak: the long adversarial runs (AGRIFIN_SOAK=1): >= 10,000 state-machine steps per
## lifecycle, >= 1,000 schemathesis cases per service (PostgreSQL too when AGRIFIN_TEST_POSTGRES_URL is set),
## then crash and retry: SOAK_OPS idempotent money operations on PostgreSQL (AGRIFIN_BENCH_POSTGRES_URL)
## while escrow, loans and the worker are SIGKILLed at random (bench/soak.py; JSON, exit 1 on any loss)
SOAK_OPS ?= 1000
soak: install
	AGRIFIN_SOAK=1 $(BIN)/python -m pytest -p no:cacheprovider -s -n 0 \
		tests/escrow/domain/test_escrow_state_machine.py tests/loans/domain/test_loans_state_machine.py \
		tests/schemathesis
	$(BIN)/python bench/soak.py --ops $(SOAK_OPS)

## make soak-ci: the bounded crash-and-retry soak CI runs (100 operations)
soak-ci: install
	$(BIN)/python bench/soak.py --ops 100

## make lock: re-resolve requirements.lock from pyproject.toml (pip-tools)
lock: install
	$(BIN)/python -m pip install --quiet pip-tools
	$(BIN)/pip-compile --quiet --extra dev --extra bench --strip-extras --no-emit-index-url --no-emit-find-links -o $(LOCK) pyproject.toml

## make catalogues: re-extract the console's messages (Babel) and merge them into each language's catalogue
CATALOGUES := services/console/locale
catalogues: install
	$(BIN)/pybabel extract --no-location --sort-output -k N_ -F babel.cfg -o $(CATALOGUES)/messages.pot .
	$(BIN)/pybabel update --no-fuzzy-matching --ignore-obsolete -i $(CATALOGUES)/messages.pot -d $(CATALOGUES) -l zh

clean:
	rm -rf $(VENV) var .mypy_cache .ruff_cache .pytest_cache
