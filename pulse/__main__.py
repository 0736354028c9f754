"""`python -m pulse`: the `twitch-pulse` command line."""

import signal
import sys


def _stop_while_starting(signum: int, _frame: object) -> None:
    """A SIGTERM before a worker has its own handler: nothing is running yet, so stop at once
    and cleanly (exit 0). Each worker replaces this handler with its own as it starts."""
    raise SystemExit(0)


signal.signal(signal.SIGTERM, _stop_while_starting)

from pulse.cli import main  # noqa: E402  (after the handler: importing the CLI takes a while)

sys.exit(main())
