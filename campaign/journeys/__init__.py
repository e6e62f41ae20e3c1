"""The journey language: spec, loader, lint, simulate. Pure: no Flask, no Redis, no database."""
