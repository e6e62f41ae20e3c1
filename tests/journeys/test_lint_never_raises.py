"""Property: lint reports problems for any input and never raises."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from campaign.journeys.lint import lint_text
from tests.journeys.conftest import FIXTURES

SAMPLE = (FIXTURES / "sample.yaml").read_text(encoding="utf-8")
SAMPLE_LINES = SAMPLE.splitlines(keepends=True)

yaml_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True),
    st.text(max_size=20),
    st.sampled_from(["D3 25:00", "D0 09:00", "21:30", "{{", "2h", "~", "[]"]),
)
yaml_values = st.recursive(
    yaml_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.text(max_size=10), children, max_size=4),
    ),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=400))
def test_random_text_never_raises(text: str) -> None:
    result = lint_text(text, "random.yaml")
    assert (
        result.spec is None
        or not result.findings
        or all(f.severity.value == "warning" for f in result.findings)
    )


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(
            st.integers(0, len(SAMPLE_LINES) - 1),
            st.sampled_from(["delete", "dup", "edit"]),
            st.text(max_size=30),
        ),
        min_size=1,
        max_size=5,
    )
)
def test_mutated_sample_never_raises(mutations: list[tuple[int, str, str]]) -> None:
    lines = list(SAMPLE_LINES)
    for index, action, noise in mutations:
        index %= len(lines) or 1
        if not lines:
            break
        if action == "delete":
            del lines[index]
        elif action == "dup":
            lines.insert(index, lines[index])
        else:
            cut = len(noise) % (len(lines[index]) or 1)
            lines[index] = lines[index][:cut] + noise + lines[index][cut:]
    result = lint_text("".join(lines), "mutated.yaml")
    for finding in result.findings:
        assert finding.line >= 1 and finding.column >= 1


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.dictionaries(
        st.sampled_from(
            [
                "journey",
                "title",
                "timezone",
                "days",
                "steps",
                "milestones",
                "courses",
                "offer",
                "caps",
                "quiet_hours",
                "events",
                "lint",
                "max_peak_to_end",
            ]
        ),
        yaml_values,
        max_size=8,
    )
)
def test_structured_garbage_never_raises(document: dict[str, object]) -> None:
    import yaml

    text = yaml.safe_dump(document, allow_unicode=True)
    result = lint_text(text, "garbage.yaml")
    assert isinstance(result.findings, list)
