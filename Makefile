# Campaign's two entry points, each setting up .venv first:
#   make demo   run the sample camp on warped time through the real engine, with the web console
#               at http://127.0.0.1:5000/ (DEMO_ARGS="--speed ... --port ..."); Ctrl-C stops it
#   make test   ruff, mypy on the journey language, then pytest on SQLite and PostgreSQL

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CAMPAIGN := $(BIN)/campaign
EXAMPLE := examples/python-camp/journey.yaml

.PHONY: demo test bench bench-engine bench-console install clean translations messages chromium

demo: $(STAMP) translations
	$(CAMPAIGN) db upgrade
	$(CAMPAIGN) demo --journey $(EXAMPLE) $(DEMO_ARGS)

test: $(STAMP) translations chromium
	$(BIN)/ruff check .
	$(BIN)/mypy campaign/journeys
	$(BIN)/pytest

# Speed targets live here, not in unit tests: medians against baselines measured in the same run.
bench: $(STAMP)
	$(BIN)/python -m bench.run

# The delivery engine against the naive one-RQ-job-per-message baseline (docs/benchmarks.md).
# BENCH_ARGS="--deliveries 1000 --lag-seconds 5" for a quick run.
bench-engine: $(STAMP)
	$(BIN)/python -m bench.engine $(BENCH_ARGS)

# The advisor console's pages at 1,000,000 enrollments on PostgreSQL (a fresh schema, seeded,
# then dropped; 10–15 minutes on 2 cores). BENCH_ARGS=--quick: 100,000 in about a minute.
bench-console: $(STAMP) translations
	$(BIN)/python -m bench.console $(BENCH_ARGS)

install: $(STAMP) chromium

# The browser tests (tests/browser) drive Debian's Chromium through Playwright (no browser
# download): installed once when missing, with a colour emoji font for the console's icons.
chromium:
	command -v chromium >/dev/null || (apt-get update && apt-get install -y chromium fonts-noto-cjk fonts-noto-color-emoji)

# The console's Chinese strings: compiled from the .po catalogue on every build (the .mo files
# are build output, not kept in git). `make messages` refreshes the catalogue after UI changes.
translations: $(STAMP)
	$(BIN)/pybabel compile -d campaign/translations >/dev/null

messages: $(STAMP)
	$(BIN)/pybabel extract -F babel.cfg -k _l -o campaign/translations/messages.pot . >/dev/null
	$(BIN)/pybabel update -i campaign/translations/messages.pot -d campaign/translations >/dev/null

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Reinstall only when the dependencies or the build configuration change.
$(STAMP): setup.cfg pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $@

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache .hypothesis
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
