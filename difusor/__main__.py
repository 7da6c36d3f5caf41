"""``python -m difusor`` is the ``difusor`` command."""

import sys

from difusor.cli import main

sys.exit(main())
