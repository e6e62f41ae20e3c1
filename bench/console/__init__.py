"""Console page latency at scale: the advisor's task queue and the learner page, on PostgreSQL.

``python -m bench.console [--enrollments 1000000] [--baseline 10000] [--samples 200] [--keep]``
(``make bench-console``). For each size (the baseline first, then the full size) one fresh
PostgreSQL schema is migrated with the real migrations and seeded set-based (``INSERT …
SELECT`` over ``generate_series``): learners in weekly cohorts, advisors with about 500
learners each, every calendar delivery of the journey per enrollment, the advisor tasks they
made (open, done, overdue, postponed), reply tasks, events, tags, points, offers and
conversions. Then ``VACUUM ANALYZE``, and the two pages are requested through the real Flask
app and its test client, signed in through the login form as advisors of the school: warm-up,
then ``--samples`` requests per page over many advisors and learners. p50 / p95 / max in ms
(nearest rank), with the SQL time and statement count per request and the requests during
which Python ran a full garbage collection.

Progress goes to stderr, a table to stdout and the raw numbers to
``bench/results/console-latest.json`` (git-ignored). The schemas are dropped unless ``--keep``;
``--schema NAME`` measures a kept schema again without seeding it.
"""
