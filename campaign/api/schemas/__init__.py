"""Marshmallow schemas of the REST API, one module per resource; every input schema raises on
unknown fields (no mass assignment)."""
