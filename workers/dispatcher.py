"""Process entry point: ``python -m workers.dispatcher`` is ``campaign dispatcher``."""

from __future__ import annotations

import sys

from campaign.commands import main


def run() -> None:
    """Run the dispatcher with this process's arguments."""
    main(["dispatcher", *sys.argv[1:]])


if __name__ == "__main__":
    run()
