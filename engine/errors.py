"""The one exception type every user-facing failure derives from.

The CLI prints `str(error)` as one line and exits non-zero; the app shows it in a dialog. So the
message must say what went wrong and what to do, in the user's terms, without a traceback.
"""


class EngramError(Exception):
    """A failure the user can understand and act on."""
