"""``campaign bench``: proof runs of the real engine at scale (one subcommand per run).

``campaign bench chaos``: the chaos suite (:mod:`campaign.proof.chaos`).
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import click

from campaign.proof.database import DEFAULT_POSTGRES_URL


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


@click.group("bench")
def bench() -> None:
    """Proof runs of the real engine's processes at scale."""


@bench.command("chaos")
@click.option(
    "--deliveries",
    type=click.IntRange(min=10),
    default=100_000,
    show_default=True,
    help="Rows to drain (about; the camp rounds to whole learners).",
)
@click.option(
    "--kills",
    type=click.IntRange(min=0),
    default=20,
    show_default=True,
    help="SIGKILLs of random dispatchers and workers during the drain.",
)
@click.option("--dispatchers", type=click.IntRange(min=1), default=2, show_default=True)
@click.option("--workers", type=click.IntRange(min=1), default=4, show_default=True)
@click.option(
    "--postgres-url",
    default=lambda: os.environ.get("CAMPAIGN_BENCH_POSTGRES_URL", DEFAULT_POSTGRES_URL),
    show_default="$CAMPAIGN_BENCH_POSTGRES_URL or the local server's test database",
    help="The PostgreSQL server; the run makes (and drops) its own schema there.",
)
@click.option(
    "--claim-lease",
    type=float,
    default=10.0,
    show_default=True,
    help="CLAIM_LEASE_SECONDS of the engine's processes.",
)
@click.option(
    "--send-lease",
    type=float,
    default=5.0,
    show_default=True,
    help="SEND_LEASE_SECONDS of the engine's processes.",
)
@click.option(
    "--deadline",
    type=float,
    default=None,
    help="Seconds the drain may take [default: max(180, deliveries / 20)].",
)
@click.option("--seed", type=int, default=None, help="Seed of the chaos schedule.")
@click.option(
    "--folder",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where logs, the outbox and Redis files go [default: a temporary folder, "
    "removed after a passing run].",
)
@click.option("--keep", is_flag=True, help="Keep the PostgreSQL schema and the folder.")
@click.option(
    "--json",
    "json_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the result as JSON to this file.",
)
def chaos(
    deliveries: int,
    kills: int,
    dispatchers: int,
    workers: int,
    postgres_url: str,
    claim_lease: float,
    send_lease: float,
    deadline: float | None,
    seed: int | None,
    folder: Path | None,
    keep: bool,
    json_path: Path | None,
) -> None:
    """Drain a cohort through real dispatchers and workers while killing them, restarting
    Redis and cutting their database connections; then check every row and every receipt.

    Exits 1 when a check fails. Progress and the report go to stderr.
    """
    from campaign.proof.chaos import ChaosConfig, run_chaos

    config = ChaosConfig(
        deliveries=deliveries,
        kills=kills,
        dispatchers=dispatchers,
        workers=workers,
        postgres_url=postgres_url,
        claim_lease=claim_lease,
        send_lease=send_lease,
        deadline=deadline,
        seed=seed,
        folder=folder,
        keep=keep,
    )
    # Ctrl-C and SIGTERM unwind through the clean-up (processes, Redis, the schema), also when
    # started in the background, where a shell leaves SIGINT ignored.
    previous = (
        signal.signal(signal.SIGINT, signal.default_int_handler),
        signal.signal(signal.SIGTERM, _interrupt),
    )
    try:
        result = run_chaos(config)
    finally:
        signal.signal(signal.SIGINT, previous[0])
        signal.signal(signal.SIGTERM, previous[1])
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        document = json.dumps(result.to_json(), indent=2, ensure_ascii=False)
        json_path.write_text(document + "\n", encoding="utf-8")
    if not result.ok:
        raise SystemExit(1)


@bench.command("scale")
@click.option(
    "--learners",
    type=click.IntRange(min=10),
    default=1_000_000,
    show_default=True,
    help="Learners to plan (15 deliveries each) when --sizes is not given.",
)
@click.option(
    "--sizes",
    default=None,
    help="Comma-separated learner counts run in turn, each in a fresh schema "
    "(e.g. 10000,100000,1000000); prints how every number grows.",
)
@click.option("--workers", type=click.IntRange(min=1), default=4, show_default=True)
@click.option(
    "--naive",
    type=click.IntRange(min=0),
    default=5_000,
    show_default=True,
    help="Messages of the naive baseline (one RQ job per message); 0 skips it.",
)
@click.option(
    "--postgres-url",
    default=lambda: os.environ.get("CAMPAIGN_BENCH_POSTGRES_URL", DEFAULT_POSTGRES_URL),
    show_default="$CAMPAIGN_BENCH_POSTGRES_URL or the local server's test database",
    help="The PostgreSQL server; each size makes (and drops) its own schema there.",
)
@click.option("--keep", is_flag=True, help="Keep the PostgreSQL schema(s).")
@click.option(
    "--json",
    "json_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write every number as JSON to this file (rewritten after each size).",
)
def scale(
    learners: int,
    sizes: str | None,
    workers: int,
    naive: int,
    postgres_url: str,
    keep: bool,
    json_path: Path | None,
) -> None:
    """Plan 15 deliveries per learner, drain a camp day of them through the stock
    dispatcher and workers, and report plan time, drain rate, dispatch lag, Redis memory,
    peak RSS, database size, and the raw-update and naive baselines of the same run.

    Progress goes to stderr, the report to stdout.
    """
    from campaign.proof.scale import ScaleConfig, run_scale
    from campaign.proof.scale_report import report, table

    try:
        counts = [int(s.replace("_", "")) for s in sizes.split(",")] if sizes else [learners]
    except ValueError as exc:
        raise click.BadParameter(f"not a list of numbers: {sizes}", param_hint="--sizes") from exc
    if min(counts) < 10:
        raise click.BadParameter("give at least 10 learners", param_hint="--sizes")
    previous = (
        signal.signal(signal.SIGINT, signal.default_int_handler),
        signal.signal(signal.SIGTERM, _interrupt),
    )
    results = []
    try:
        for count in counts:
            config = ScaleConfig(
                learners=count, workers=workers, postgres_url=postgres_url, keep=keep, naive=naive
            )
            result = run_scale(config)
            results.append(result)
            click.echo("\n".join(report(result)))
            if json_path is not None:
                json_path.parent.mkdir(parents=True, exist_ok=True)
                document = json.dumps(results, indent=2, ensure_ascii=False, default=str)
                json_path.write_text(document + "\n", encoding="utf-8")
    finally:
        signal.signal(signal.SIGINT, previous[0])
        signal.signal(signal.SIGTERM, previous[1])
    click.echo("\n".join(table(results)))
