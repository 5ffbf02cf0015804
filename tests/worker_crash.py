"""A stand-in for the grid's worker function that kills its process for 24-bit runs (for the retry test).

It lives in its own module so that spawned worker processes can import it by name.
"""

import os

from hashbench.harness import grid


def execute_or_die(config, device, checkpoint_dir):
    """The real worker function, except that a 24-bit run ends its process at once, as a crash would."""
    if config.bits == 24:
        os._exit(1)
    return grid._execute_in_worker(config, device, checkpoint_dir)
