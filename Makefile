# The two commands of the README: `make run` and `make test`. Both do every set-up step on a
# fresh machine that has Python 3.11+, Java 17+ and Maven: virtualenv, dependencies, Kafka jars.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)

.PHONY: install run test bench stop clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[dev]"
	rm -f $(VENV)/.installed-* && touch $(STAMP)

install: $(STAMP)
	$(BIN)/twitch-pulse stack fetch

run: install
	$(BIN)/twitch-pulse run

test: install
	$(BIN)/python -m pytest -q -p no:cacheprovider

bench: install
	$(BIN)/python -m bench

stop:
	$(BIN)/twitch-pulse stack stop

clean: stop
	rm -rf .local .cache state
