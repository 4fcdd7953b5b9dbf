"""User-facing errors.

Anything that is the user's mistake (a bad suite field, a missing dataset, an unknown model, a corrupt cache)
raises `UserError`; the CLI prints its message as one line and exits with code 2, never a traceback.
"""


class UserError(Exception):
    """A problem the user can fix; the message names the file/field and what was expected."""
