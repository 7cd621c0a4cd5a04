"""``python -m pyronas`` runs the CLI."""

import sys

from pyronas.cli import main

sys.exit(main())
