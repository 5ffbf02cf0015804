"""The one exception type for mistakes a user can fix.

The command line turns a :class:`UsageError` into a single line on stderr and
exit status 2. Anything else is a bug and is left to raise with its traceback.
"""


class UsageError(ValueError):
    """Bad input from the user: an unknown name, a bad value, a missing or corrupt file."""
