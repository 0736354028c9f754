# The two commands of the README: `make run` and `make test`. Both do every set-up step on a
# fresh machine that has Python 3.11+, Java 17+ and Maven: virtualenv, dependencies, Kafka jars.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
# dbt (the analytics models in dbt/) in a virtualenv of its own: its pins never meet the workers'
DBT_VENV  := .venv-dbt
DBT_STAMP := $(DBT_VENV)/.installed-$(shell cksum dbt/requirements.txt | cut -d' ' -f1)

.PHONY: install bqemulator browser tools run check test bench stop clean

# WAREHOUSE=bigquery runs the pipeline into bqemulator, the local BigQuery stand-in
WAREHOUSE ?= snowflake
# bqemulator lives in a virtualenv of its own: it pins sqlglot below the version fakesnow pins
BQ_VENV  := .venv-bq
BQ_STAMP := $(BQ_VENV)/.installed-$(shell cksum devstack/bqemulator-requirements.txt | cut -d' ' -f1)

# setup.py compiles the processor's hot path next to its sources (mypyc): an edit there rebuilds.
HOT    := $(wildcard pulse/*.py processors/*.py)

$(STAMP): pyproject.toml setup.py $(HOT)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	rm -f pulse/*.so processors/*.so *__mypyc.*.so  # no old build outlives its module's place in setup.py
	$(BIN)/python -m pip install -q -e ".[dev]"
	@$(BIN)/python -c "import processors.chunk_stage as m; print('hot path:', 'compiled by mypyc' if m.__file__.endswith('.so') else 'INTERPRETED: the mypyc build failed (pip install -v . shows why)')"
	rm -f $(VENV)/.installed-* && touch $(STAMP)

$(DBT_STAMP): dbt/requirements.txt
	test -x $(DBT_VENV)/bin/python || $(PYTHON) -m venv $(DBT_VENV)
	$(DBT_VENV)/bin/python -m pip install -q --upgrade pip
	$(DBT_VENV)/bin/python -m pip install -q -r dbt/requirements.txt
	rm -f $(DBT_VENV)/.installed-* && touch $(DBT_STAMP)

install: $(STAMP) $(DBT_STAMP)
	$(BIN)/twitch-pulse stack fetch

$(BQ_STAMP): devstack/bqemulator-requirements.txt
	test -x $(BQ_VENV)/bin/python || $(PYTHON) -m venv $(BQ_VENV)
	$(BQ_VENV)/bin/python -m pip install -q --upgrade pip
	$(BQ_VENV)/bin/python -m pip install -q -r devstack/bqemulator-requirements.txt
	rm -f $(BQ_VENV)/.installed-* && touch $(BQ_STAMP)

bqemulator: $(BQ_STAMP)

run: install $(if $(filter bigquery,$(WAREHOUSE)),bqemulator)
	WAREHOUSE=$(WAREHOUSE) $(BIN)/twitch-pulse run

# The quick loop: lint, types and the unit tests (no broker, no warehouse), under a minute.
check: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/python -m pytest -q -p no:cacheprovider -n 2 tests/unit

# Everything, the real parts included, over TEST_WORKERS processes (pytest-xdist). On 2 cores the
# suite keeps the CPU busy (over 90% of a run): four workers overlap one test's real outage or
# deadline with another's work, and what makes it faster is less CPU (docs/architecture.md, "The
# test suite"). The longest modules run first (tests/conftest.py) and are handed out one test at a
# time (--maxschedchunk 1), so no worker starts with a batch of them.
TEST_WORKERS ?= 4
PYTEST_ARGS ?=
test: install bqemulator browser tools
	$(BIN)/python -m pytest -q -p no:cacheprovider -n $(TEST_WORKERS) --maxschedchunk 1 $(PYTEST_ARGS) tests

# helm and kubeconform for tests/integration/test_helm.py, built from their Go modules when missing
# (about two minutes on a fresh machine): built here, before the suite, and not by the first helm
# test, where every worker that reached a helm test waited for the build. Without Go those tests skip.
tools:
	@deploy/helm/install-tools.sh > /dev/null || [ $$? -eq 3 ]

# The dashboard's real-browser test drives Debian's chromium with chromium-driver: installed here
# when missing (as root, as in CI); without them that one test skips and says why.
browser:
	@deploy/apt-install.sh "chromium chromium-driver" chromium chromedriver \
	  || echo "chromium/chromium-driver not installed: the dashboard's browser test will be skipped"

bench: install
	$(BIN)/python -m bench

stop:
	$(BIN)/twitch-pulse stack stop

clean: stop
	rm -rf .local .cache state
