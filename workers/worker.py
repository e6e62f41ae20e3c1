"""Process entry point: ``python -m workers.worker`` is ``campaign worker``."""

from __future__ import annotations

import sys

from campaign.commands import main


def run() -> None:
    """Run an RQ worker with this process's arguments."""
    main(["worker", *sys.argv[1:]])


if __name__ == "__main__":
    run()
