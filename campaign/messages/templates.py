"""Render staff-written message templates in Jinja's sandbox, and say what a template may use.

Templates are written by marketing staff, so they are never fed to a plain Jinja environment:
the sandbox blocks attribute tricks, and ``StrictUndefined`` turns a misspelt variable into an
error instead of an empty string in a learner's message. Pure: no Flask, no database.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, Template, TemplateSyntaxError, nodes
from jinja2.sandbox import SandboxedEnvironment

# What the send worker puts in a template's context. A name mapping to a dict has attributes;
# a name mapping to None is a leaf (a value, list or number). Lint checks templates against it.
CONTEXT_SCHEMA: dict[str, Any] = {
    "learner": {
        "name": None,
        "points": None,
        "rank": None,
        "tags": None,
        "level": None,
        "persona": None,
        "goal": None,
    },
    "advisor": {"name": None, "wecom_userid": None},
    "cohort": {"title": None, "starts_on": None, "day": None, "days_left": None},
    "journey": {"title": None},
    "offer": {
        "reason": None,
        "course": {"key": None, "title": None, "price": None, "url": None},
        "opens": None,
        "closes": None,
        "price": None,
    },
    "links": {"unsubscribe": None, "group": None, "homework": None, "live": None},
}


def make_environment() -> SandboxedEnvironment:
    """Build the sandboxed environment every template is parsed and rendered in."""
    return SandboxedEnvironment(
        undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False
    )


_ENV = make_environment()


@lru_cache(maxsize=512)
def _compiled(template: str) -> Template:
    """Compile a template once: parsing and code generation cost a millisecond or more, and a
    step's text is the same for every learner it goes to."""
    return _ENV.from_string(template)


@lru_cache(maxsize=512)
def _globals(template: str) -> dict[str, Any]:
    """The template's globals as one plain dict, merged once."""
    return dict(_compiled(template).globals)


def render(template: str, context: Mapping[str, Any]) -> str:
    """Render ``template`` with ``context`` in the sandbox (a missing variable raises).

    What ``Template.render`` does, with the globals merged once per template instead of once
    per render (Jinja copies its chain of global maps into every new context: a tenth of a
    worker's time on a batch of one-line messages).
    """
    compiled = _compiled(template)
    values = compiled.new_context({**_globals(template), **context}, shared=True)
    try:
        return compiled.environment.concat(compiled.root_render_func(values))
    except Exception:
        compiled.environment.handle_exception()
        raise  # handle_exception always raises; this line is for the type checker


@dataclass(frozen=True)
class TemplateProblem:
    """A template mistake at ``line`` (1-based, within the template) with a message."""

    line: int
    message: str
    name: str | None = None  # the dotted name involved, for pointing at it in the source


def parse(template: str) -> tuple[nodes.Template | None, TemplateProblem | None]:
    """Parse ``template`` once: return its tree, or the first problem (syntax, unknown filter).

    Filters and tests are looked up on the tree instead of compiling the template: lint parses
    hundreds of templates and Jinja's code generation would be most of its time.
    """
    try:
        tree = _ENV.parse(template)
    except TemplateSyntaxError as exc:
        return None, TemplateProblem(line=exc.lineno or 1, message=exc.message or "syntax error")
    for node in tree.find_all((nodes.Filter, nodes.Test)):
        kind, known = (
            ("filter", _ENV.filters) if isinstance(node, nodes.Filter) else ("test", _ENV.tests)
        )
        if node.name not in known:
            close = difflib.get_close_matches(node.name, list(known), n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            return None, TemplateProblem(
                line=node.lineno, message=f"no {kind} named '{node.name}'{hint}"
            )
    return tree, None


def parse_problem(template: str) -> TemplateProblem | None:
    """Return the first problem of ``template`` (syntax, unknown filter or test), or None."""
    return parse(template)[1]


def _dotted(node: nodes.Node) -> list[str] | None:
    """Return ``['offer', 'course', 'title']`` for ``offer.course.title`` (None if not a chain)."""
    if isinstance(node, nodes.Name):
        return [node.name]
    if isinstance(node, nodes.Getattr):
        head = _dotted(node.node)
        return None if head is None else [*head, node.attr]
    if isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
        head = _dotted(node.node)
        return None if head is None else [*head, str(node.arg.value)]
    return None


def _check_chain(chain: list[str], schema: Mapping[str, Any]) -> str | None:
    """Return why ``chain`` is not in ``schema``, or None when the context will have it."""
    level: Any = schema
    for depth, part in enumerate(chain):
        if not isinstance(level, Mapping):
            return None  # below a leaf: a value's own attributes (e.g. a list's) are not ours
        if part not in level:
            where = ".".join(chain[:depth]) or "the context"
            known = ", ".join(sorted(level))
            return f"'{'.'.join(chain[: depth + 1])}' is not a variable of {where} (known: {known})"
        level = level[part]
    return None


def unknown_variables(
    template: str | nodes.Template, schema: Mapping[str, Any] = CONTEXT_SCHEMA
) -> list[TemplateProblem]:
    """List the variables ``template`` (text or parsed tree) uses that the context will not have.

    Names bound inside the template (``{% set %}``, loop variables) are its own and allowed.
    """
    if isinstance(template, str):
        try:
            tree = _ENV.parse(template)
        except TemplateSyntaxError:
            return []
    else:
        tree = template
    local: set[str] = set()
    for assign in tree.find_all((nodes.Assign, nodes.For, nodes.Macro)):
        if isinstance(assign, nodes.Assign | nodes.For):
            names = [assign.target, *assign.target.find_all(nodes.Name)]
            local.update(n.name for n in names if isinstance(n, nodes.Name))
        if isinstance(assign, nodes.Macro):
            local.add(assign.name)
            local.update(arg.name for arg in assign.args)
    problems: list[TemplateProblem] = []
    seen: set[str] = set()
    candidates = list(tree.find_all((nodes.Getattr, nodes.Getitem, nodes.Name)))
    inner = {id(c.node) for c in candidates if isinstance(c, nodes.Getattr | nodes.Getitem)}
    for node in candidates:
        if id(node) in inner:
            continue  # part of a longer chain: the outermost node is checked
        if isinstance(node, nodes.Name) and node.ctx != "load":
            continue
        chain = _dotted(node)
        if not chain or chain[0] in local:
            continue
        problem = _check_chain(chain, schema)
        dotted = ".".join(chain)
        if problem and dotted not in seen:
            seen.add(dotted)
            problems.append(TemplateProblem(line=node.lineno, message=problem, name=dotted))
    return problems


def sample_context() -> dict[str, Any]:
    """Return a context with a plausible value for every variable (for previews and lint)."""

    def fill(schema: Mapping[str, Any], prefix: str) -> dict[str, Any]:
        return {
            key: fill(sub, f"{prefix}{key}.") if isinstance(sub, Mapping) else f"<{prefix}{key}>"
            for key, sub in schema.items()
        }

    context = fill(CONTEXT_SCHEMA, "")
    context["learner"].update(name="小明", points=42, rank=3, tags=["goal:excel-automation"])
    context["advisor"]["name"] = "王老师"
    return context
