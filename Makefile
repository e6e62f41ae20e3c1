# Campaign's two entry points, each setting up .venv first:
#   make demo   lint, publish and simulate the sample camp, then open a cohort for it
#   make test   ruff, mypy on the journey language, then pytest on SQLite and PostgreSQL

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CAMPAIGN := $(BIN)/campaign
EXAMPLE := examples/python-camp/journey.yaml
# The first day of the demo cohort: next Monday (a week ahead when today is a Monday).
NEXT_MONDAY = $(shell $(PYTHON) -c 'import datetime as d; t = d.date.today(); print(t + d.timedelta(days=7 - t.weekday()))')

.PHONY: demo test bench install clean translations messages

demo: $(STAMP) translations
	$(CAMPAIGN) db upgrade
	$(CAMPAIGN) journeys lint $(EXAMPLE)
	$(CAMPAIGN) journeys publish $(EXAMPLE)
	$(CAMPAIGN) journeys simulate $(EXAMPLE) --starts-on $(NEXT_MONDAY) --learners 300
	$(CAMPAIGN) cohorts open python-camp --starts-on $(NEXT_MONDAY)
	$(CAMPAIGN) cohorts list

test: $(STAMP) translations
	$(BIN)/ruff check .
	$(BIN)/mypy campaign/journeys
	$(BIN)/pytest

# Speed targets live here, not in unit tests: medians against baselines measured in the same run.
bench: $(STAMP)
	$(BIN)/python -m bench.run

install: $(STAMP)

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
