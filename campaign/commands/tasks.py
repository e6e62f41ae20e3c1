"""``campaign tasks``: an advisor's queue of 1v1 messages from the command line."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext

from campaign.clock import clock_from_config
from campaign.commands.errors import reports_user_errors
from campaign.db import session_scope
from campaign.journeys.times import TimeSyntaxError, parse_duration
from campaign.tasks import mark_sent, mark_skipped, postpone, task_queue


@click.group("tasks")
def tasks() -> None:
    """List advisor tasks and record what the advisor did."""


@tasks.command("list")
@click.option("--advisor", "advisor_id", type=int, help="Only this advisor's tasks (an id).")
@click.option("--all", "include_done", is_flag=True, help="Include tasks already done.")
@with_appcontext
@reports_user_errors
def list_command(advisor_id: int | None, include_done: bool) -> None:
    """Show tasks by deadline, soonest first, with the time left on each."""
    now = clock_from_config(current_app.config).now()
    with session_scope() as session:
        queue = task_queue(session, advisor_id=advisor_id, include_done=include_done)
        if not queue:
            click.echo("no tasks")
        for task in queue:
            left = int((task.due_at - now).total_seconds() // 60)
            when = f"{left} min left" if left >= 0 else f"OVERDUE {-left} min"
            voice = " [voice]" if task.voice else ""
            click.echo(
                f"#{task.id} {task.status:<9} {when:<16} advisor={task.advisor_id} "
                f"{task.step_key}{voice}: {task.script}"
            )


@tasks.command("done")
@click.argument("task_id", type=int)
@click.option("--sent", "outcome", flag_value="sent", help="The advisor sent the message.")
@click.option("--skipped", "reason", help="The advisor did not send it; say why.")
@click.option("--postpone", "delay", help="Put it back in the queue for this long (e.g. 2h).")
@with_appcontext
@reports_user_errors
def done_command(task_id: int, outcome: str | None, reason: str | None, delay: str | None) -> None:
    """Record what happened to task TASK_ID: --sent, --skipped REASON or --postpone 2h."""
    chosen = [
        name
        for name, value in (("--sent", outcome), ("--skipped", reason), ("--postpone", delay))
        if value
    ]
    if len(chosen) != 1:
        raise click.UsageError("give exactly one of --sent, --skipped REASON, --postpone DURATION")
    now = clock_from_config(current_app.config).now()
    with session_scope() as session:
        if outcome:
            task = mark_sent(session, task_id, now=now)
        elif reason is not None:
            task = mark_skipped(session, task_id, reason=reason, now=now)
        else:
            try:
                until = now + parse_duration(str(delay))
            except TimeSyntaxError as exc:
                raise click.BadParameter(str(exc), param_hint="--postpone") from None
            task = postpone(session, task_id, until=until, now=now)
        click.echo(f"task {task.id} is {task.status}")
