"""The layering of DESIGN.md, checked on the source: what may import what.

- The journey language and template rendering are pure: no Flask, Redis, RQ or database layer,
  so they run in the linter, the simulator and the workers alike and are tested without services.
- ``workers/`` imports ``campaign``; nothing in ``campaign`` imports ``workers``.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "campaign"
PURE_FORBIDDEN = ("flask", "redis", "rq", "sqlalchemy", "campaign.db", "campaign.models")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(source: str, module: str, is_package: bool) -> Iterator[tuple[int, str]]:
    """Yield (line, absolute module name) for every import in ``source``, relative ones resolved.

    ``from campaign import db`` yields ``campaign.db`` too, since it may import that module.
    """
    package = module.split(".") if is_package else module.split(".")[:-1]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            target = ".".join([*base, *([node.module] if node.module else [])])
            yield node.lineno, target
            for alias in node.names:
                yield node.lineno, f"{target}.{alias.name}"


def is_within(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == prefix or module.startswith(prefix + ".") for prefix in prefixes)


def violations(paths: list[Path], forbidden: tuple[str, ...]) -> list[str]:
    found = []
    for path in paths:
        source = path.read_text(encoding="utf-8")
        for line, module in imported_modules(source, module_name(path), path.name == "__init__.py"):
            if is_within(module, forbidden):
                found.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
    return found


def pure_modules() -> list[Path]:
    paths = sorted((PACKAGE / "journeys").rglob("*.py"))
    templates = PACKAGE / "messages" / "templates.py"
    return [*paths, templates] if templates.exists() else paths


def test_the_checker_sees_absolute_relative_and_from_imports() -> None:
    source = (
        "import flask.cli\nfrom .. import db\nfrom ..models import Cohort\nfrom . import spec\n"
    )
    found = [m for _, m in imported_modules(source, "campaign.journeys.lint", is_package=False)]
    assert "flask.cli" in found
    assert "campaign.db" in found
    assert "campaign.models.Cohort" in found
    assert "campaign.journeys.spec" in found
    assert is_within("sqlalchemy.orm", PURE_FORBIDDEN)
    assert not is_within("sqlalchemyx", PURE_FORBIDDEN)
    assert not is_within("campaign.journeys.dbx", PURE_FORBIDDEN)


def test_journey_language_and_templates_import_no_service_layer() -> None:
    paths = pure_modules()
    assert len(paths) > 3
    assert violations(paths, PURE_FORBIDDEN) == []


def test_nothing_in_campaign_imports_workers() -> None:
    assert violations(sorted(PACKAGE.rglob("*.py")), ("workers",)) == []


def test_importing_the_journey_language_loads_no_service_library() -> None:
    """The static check misses imports hidden in a package ``__init__``; this one does not."""
    modules = [module_name(p) for p in pure_modules() if p.name != "__init__.py"]
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        f"forbidden = {PURE_FORBIDDEN!r}\n"
        "print(' '.join(sorted(m for m in sys.modules"
        " if any(m == p or m.startswith(p + '.') for p in forbidden))))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == ""
