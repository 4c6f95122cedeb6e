"""The one exception type that means "the user's input is wrong" (exit status 2, no traceback)."""


class InputError(Exception):
    """Bad input or config. The message names the file, line or key, and the fix."""
