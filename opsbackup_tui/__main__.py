"""python -m opsbackup_tui: hands over to cli.main."""

import sys

from .cli import main

sys.exit(main())
