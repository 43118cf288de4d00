"""One error type for everything a user can fix.

Each message is a single line that names the file (or option) at fault and says
what to do. The CLI prints it and exits with status 2; no traceback.
"""


class SeptctlError(Exception):
    """A problem with the user's input or environment, with the fix in the message."""
