"""Time lint and simulation against their targets, with a baseline measured in the same run.

Run from the repository root: ``python -m bench.run`` (``make bench``). It times:

- lint of a generated 500-step journey (``lint_text``), against loading the same document with
  ``yaml.safe_load`` (pure-Python loader) and with libyaml's ``CSafeLoader`` (what lint parses
  with when libyaml is there): the floor any YAML-based lint starts from. Target: under 200 ms.
- simulation of 10,000 learners of ``examples/python-camp/journey.yaml`` (a generated 30-step
  journey with the same step mix when that file is missing or does not lint), against a trivial
  pass that touches every learner at every step occurrence and event, and the drawing of the
  synthetic learners on its own (part of every simulation). Target: under 5 s on 2 cores.

Each is repeated (``--repeat``, default 5) and reported as median and minimum, in seconds, with
the machine it ran on. Results also go to ``bench/results/latest.json`` (not in git).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from bench.journeys import generate_journey
from campaign.journeys.lint import lint_text
from campaign.journeys.sim_learners import SimLearner, make_learners
from campaign.journeys.simulate import occurrences, simulate
from campaign.journeys.spec import JourneySpec

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "python-camp" / "journey.yaml"
RESULTS = ROOT / "bench" / "results" / "latest.json"
STARTS_ON = date(2025, 6, 2)
LINT_TARGET = 0.2
SIMULATE_TARGET = 5.0


@dataclass
class Timing:
    name: str
    runs: list[float]
    target: float | None = None

    @property
    def median(self) -> float:
        return statistics.median(self.runs)

    @property
    def best(self) -> float:
        return min(self.runs)

    def line(self) -> str:
        target = f"  (target < {self.target:g} s)" if self.target else ""
        return f"{self.name:<42} median {self.median:8.4f} s   min {self.best:8.4f} s{target}"


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def measure(
    name: str, action: Callable[[], object], repeat: int, target: float | None = None
) -> Timing:
    """Run ``action`` ``repeat`` times after one warm-up run and keep the wall-clock times."""
    progress(f"  {name}: warm-up")
    action()
    runs = []
    for attempt in range(1, repeat + 1):
        start = time.perf_counter()
        action()
        runs.append(time.perf_counter() - start)
        progress(f"  {name}: run {attempt}/{repeat} {runs[-1]:.4f} s")
    return Timing(name, runs, target)


def machine() -> dict[str, Any]:
    """Describe where the numbers were measured."""
    model = "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.lower().startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "cpus": os.cpu_count(),
        "usable_cpus": usable,
        "cpu_model": model,
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "load_average_1m": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
    }


def bench_lint(steps: int, repeat: int) -> tuple[Timing, list[Timing], dict[str, Any]]:
    text = generate_journey(steps)
    result = lint_text(text, "bench-500.yaml")
    errors = [f.format() for f in result.findings if f.severity == "error"]
    if errors:
        raise SystemExit("the generated journey does not lint:\n" + "\n".join(errors[:10]))
    info = {
        "steps": steps,
        "lines": text.count("\n"),
        "bytes": len(text.encode()),
        "findings": len(result.findings),
    }
    progress(f"lint: {steps} steps, {info['lines']} lines, {info['findings']} warnings")
    lint = measure(
        f"lint_text, {steps}-step journey",
        lambda: lint_text(text, "bench.yaml"),
        repeat,
        LINT_TARGET,
    )
    safe_load = measure("baseline: yaml.safe_load", lambda: yaml.safe_load(text), repeat)
    fast_loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    c_load = measure(
        f"baseline: yaml.load, {fast_loader.__name__}",
        lambda: yaml.load(text, Loader=fast_loader),
        repeat,
    )
    return lint, [safe_load, c_load], info


def simulation_spec() -> tuple[JourneySpec, str]:
    """Return the sample camp, or a generated stand-in with the same kind of steps."""
    if EXAMPLE.exists():
        result = lint_text(EXAMPLE.read_text(encoding="utf-8"), str(EXAMPLE))
        if result.spec is not None:
            return result.spec, str(EXAMPLE.relative_to(ROOT))
        progress(f"{EXAMPLE} has lint errors; using a generated journey instead")
    spec = lint_text(generate_journey(30), "generated-30.yaml").spec
    assert spec is not None
    return spec, "generated 30-step journey (bench/journeys.py)"


def touch_every_occurrence(spec: JourneySpec, cohort: list[SimLearner]) -> int:
    """The floor: visit each learner at every step occurrence and at every triggering event."""
    touched = 0
    for _ in occurrences(spec):
        for learner in cohort:
            touched += learner.enrolled_at > 0
    for step in spec.steps:
        if step.on is not None:
            for learner in cohort:
                touched += len(learner.event_times.get(step.on.event, ()))
    return touched


def bench_simulate(learners: int, repeat: int) -> tuple[Timing, list[Timing], dict[str, Any]]:
    spec, source = simulation_spec()
    info = {
        "journey": source,
        "steps": len(spec.steps),
        "occurrences": len(occurrences(spec)),
        "learners": learners,
    }
    progress(
        f"simulate: {source}, {info['steps']} steps, {info['occurrences']} occurrences, "
        f"{learners} learners"
    )
    timing = measure(
        f"simulate, {learners} learners",
        lambda: simulate(spec, STARTS_ON, learners, 1),
        repeat,
        SIMULATE_TARGET,
    )
    cohort = make_learners(spec, STARTS_ON, learners, random.Random(1))
    touch = measure(
        "baseline: touch learner x occurrence", lambda: touch_every_occurrence(spec, cohort), repeat
    )
    draw = measure(
        f"part: draw {learners} learners",
        lambda: make_learners(spec, STARTS_ON, learners, random.Random(1)),
        repeat,
    )
    return timing, [touch, draw], info


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per measurement")
    parser.add_argument("--steps", type=int, default=500, help="steps in the lint journey")
    parser.add_argument("--learners", type=int, default=10_000, help="simulated learners")
    parser.add_argument(
        "--check",
        action="store_true",
        help="exit 1 when a median misses its target (off by default: shared machines are noisy)",
    )
    args = parser.parse_args(argv)
    about = machine()
    progress(
        f"machine: {about['cpu_model']}, {about['usable_cpus']} usable CPUs, "
        f"Python {about['python']}"
    )
    lint, lint_base, lint_info = bench_lint(args.steps, args.repeat)
    sim, sim_base, sim_info = bench_simulate(args.learners, args.repeat)
    print(
        f"machine: {about['cpu_model']}; nproc {about['usable_cpus']}; "
        f"{about['implementation']} {about['python']}; {about['platform']}; "
        f"load average (1 min) {about['load_average_1m']} before, "
        f"{machine()['load_average_1m']} after"
    )
    for timing in (lint, *lint_base, sim, *sim_base):
        print(timing.line())
    for base in lint_base:
        print(
            f"lint / {base.name.removeprefix('baseline: ')} (median): "
            f"{lint.median / base.median:.2f}x"
        )
    print(
        f"simulate / {sim_base[0].name.removeprefix('baseline: ')} (median): "
        f"{sim.median / sim_base[0].median:.1f}x"
    )
    verdicts = [(lint, lint.median < LINT_TARGET), (sim, sim.median < SIMULATE_TARGET)]
    for timing, ok in verdicts:
        print(f"{timing.name}: {'within' if ok else 'OVER'} target")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "machine": about,
                "lint": {
                    **lint_info,
                    "timing": asdict(lint),
                    "baselines": [asdict(b) for b in lint_base],
                },
                "simulate": {
                    **sim_info,
                    "timing": asdict(sim),
                    "baselines": [asdict(b) for b in sim_base],
                },
            },
            indent=2,
        ),
        encoding="utf-8",
    )
    progress(f"results written to {RESULTS.relative_to(ROOT)}")
    return 1 if args.check and not all(ok for _, ok in verdicts) else 0


if __name__ == "__main__":
    sys.exit(main())
