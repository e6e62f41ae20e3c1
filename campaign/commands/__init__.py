"""The ``campaign`` command line: one Flask CLI group with every feature's commands.

``main`` is the console script (``campaign = campaign.commands:main``). Commands that touch the
database run inside the app built by :func:`campaign.create_app`; ``journeys lint`` and
``journeys simulate`` need no database.
"""

from __future__ import annotations

from flask.cli import FlaskGroup

from campaign import create_app
from campaign.commands.apikeys import apikeys
from campaign.commands.bench import bench
from campaign.commands.cohorts import cohorts
from campaign.commands.db import db
from campaign.commands.demo import demo
from campaign.commands.engine import dispatcher, worker
from campaign.commands.health import health
from campaign.commands.journeys import journeys
from campaign.commands.learners import learners
from campaign.commands.publishing import diff, publish, versions
from campaign.commands.report import report
from campaign.commands.simulate import simulate
from campaign.commands.tasks import tasks
from campaign.commands.users import users

for command in (publish, versions, diff, simulate):
    journeys.add_command(command)

main = FlaskGroup(
    name="campaign",
    create_app=create_app,
    help="Campaign: write, publish and run course-conversion journeys.",
)
for group in (journeys, cohorts, db, dispatcher, worker, tasks, users, apikeys):
    main.add_command(group)
main.add_command(demo)
main.add_command(learners)
main.add_command(report)
main.add_command(bench)
main.add_command(health)
