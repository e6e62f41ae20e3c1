"""``campaign demo``: the sample camp run for real on warped time.

The demo is a user of the engine, not part of it: it publishes a journey, opens a cohort, seeds
advisors, their console users and synthetic learners, starts a real dispatcher, a real worker
and the web console (gunicorn) as separate processes sharing one warped clock, feeds learning
events as an integration would, and prints what the engine sends. Everything it shows went
through the same code a production camp uses.

- :mod:`campaign.demo.seeding`: publish, open, seed users, learners and their actions.
- :mod:`campaign.demo.feeder`: apply that timeline on warped time (enroll, events, tags).
- :mod:`campaign.demo.printer`: print messages and advisor tasks as they are created.
- :mod:`campaign.demo.processes`: start and stop the dispatcher, worker and web processes.
- :mod:`campaign.demo.web`: the console's port, its gunicorn command line, its readiness.
- :mod:`campaign.demo.summary`: count deliveries by state and reason, tasks and conversions.
- :mod:`campaign.demo.run`: tie them together, with a clean stop on Ctrl-C.
"""
