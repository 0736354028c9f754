"""`python -m pulse`: the `twitch-pulse` command line."""

import sys

import pulse

pulse.catch_early_sigterm()  # before importing the CLI, which takes a while

from pulse.cli import main  # noqa: E402

sys.exit(main())
