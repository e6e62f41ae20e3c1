"""What the engine knows and does about learners beyond their messages.

- :mod:`~campaign.learners.tags`: tags with their source and time, exclusive groups, auto-tag
  rules from the journey (an event effect);
- :mod:`~campaign.learners.points`: the points ledger (an event effect), the leaderboard and
  coupons bought with points;
- :mod:`~campaign.learners.silence`: the daily scan that tags silent learners and raises
  advisor tasks for them and for quiet classes;
- :mod:`~campaign.learners.report`: the daily class report per cohort and advisor;
- :mod:`~campaign.learners.importer`: learners from a CSV file, enrolled in a cohort.

Nothing here imports Flask: the CLI, the API and the workers call these functions with a
session and a ``now``, and commit.
"""
