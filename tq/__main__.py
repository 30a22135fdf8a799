"""`python -m tq jobs list|run|runs` (see tq/jobs/cli.py)."""

import sys

from tq.jobs.cli import main

sys.exit(main())
