"""The one error type of the host tools: printed as a single line naming what and where."""


class MobiotError(Exception):
    """A user-facing failure. `str(err)` is one line: what went wrong and where."""
