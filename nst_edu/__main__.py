"""``python -m nst_edu`` runs the ``nst-edu`` command."""

import sys

from .cli import main

sys.exit(main())
