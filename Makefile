# The two commands of the README: `make run` and `make test`. Both do every set-up step on a
# fresh machine that has Python 3.11+, Java 17+ and Maven: virtualenv, dependencies, Kafka jars.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
# dbt (the analytics models in dbt/) in a virtualenv of its own: its pins never meet the workers'
DBT_VENV  := .venv-dbt
DBT_STAMP := $(DBT_VENV)/.installed-$(shell cksum dbt/requirements.txt | cut -d' ' -f1)

.PHONY: install browser run test bench stop clean

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

run: install
	$(BIN)/twitch-pulse run

test: install browser
	$(BIN)/python -m pytest -q -p no:cacheprovider

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
