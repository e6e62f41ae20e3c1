"""``campaign demo``: run the sample camp for real on warped time and print what it sends.

A thin command: options in, :func:`campaign.demo.run.run_demo` does the work (see its module).
"""

from __future__ import annotations

from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext

from campaign.commands.errors import reports_user_errors

SAMPLE = Path("examples") / "python-camp" / "journey.yaml"  # in the repository, beside campaign/


@click.command("demo")
@click.option(
    "--learners",
    default=300,
    show_default=True,
    type=click.IntRange(1, 20_000),
    help="Synthetic learners who sign up over the prep days.",
)
@click.option(
    "--speed",
    default=2880.0,
    show_default=True,
    type=click.FloatRange(min=1.0),
    help="How much faster than real time the camp runs (2880: a camp day in 30 s).",
)
@click.option("--seed", default=1, show_default=True, help="Seed of the synthetic learners.")
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(1, 16),
    help="Worker processes (each an RQ SimpleWorker on every channel's queue).",
)
@click.option(
    "--journey",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The journey to run [default: examples/python-camp/journey.yaml].",
)
@click.option(
    "--port",
    default=5000,
    show_default=True,
    type=click.IntRange(1, 65535),
    help="The web console's port on 127.0.0.1 (the next free one if it is taken).",
)
@click.option(
    "--once",
    is_flag=True,
    help="Exit when the camp is over instead of keeping the console up until Ctrl-C.",
)
@with_appcontext
@reports_user_errors
def demo(
    learners: int,
    speed: float,
    seed: int,
    workers: int,
    journey: Path | None,
    port: int,
    once: bool,
) -> None:
    """Run a camp on warped time with a real dispatcher, worker and web console.

    Publishes the journey, opens a cohort whose D1 is two virtual days away, seeds 3 advisors,
    their console users and the learners, starts the console (printing its URL and the demo
    sign-ins), feeds the learners' events, prints each message and advisor task as it is
    created, and a summary by state and reason when the camp is over. The console then stays
    up for browsing until Ctrl-C (or SIGTERM), which stops everything cleanly, at any time.
    """
    from campaign.demo.run import DemoOptions, run_demo

    path = journey or Path(__file__).resolve().parents[2] / SAMPLE
    if not path.exists():
        raise click.ClickException(f"no journey at {path}; pass one with --journey PATH")
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    options = DemoOptions(
        journey=path,
        learners=learners,
        speed=speed,
        seed=seed,
        workers=workers,
        port=port,
        once=once,
    )
    result = run_demo(app, options, click.echo)
    if not result.summary.adds_up:
        raise click.ClickException("the summary does not add up to the deliveries planned")
    # Stopped by Ctrl-C or SIGTERM after a clean stop is a normal end for a demo: status 0.
