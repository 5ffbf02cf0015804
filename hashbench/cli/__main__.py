"""``python -m hashbench.cli``: the ``hashbench`` command."""

import sys

from hashbench.cli import main

sys.exit(main())
