"""``python -m vidft`` runs the ``vidft`` command line."""
import sys

from .cli import main

sys.exit(main())
