"""The exceptions that end a run with a message instead of a traceback."""


class InputError(Exception):
    """Bad input or config. The message names the file, line or key, and the fix (exit status 2)."""


class RunStopped(Exception):
    """A run that stopped on purpose (a NaN loss, a failed write): the message says why, what is
    kept and how to continue (exit status 1)."""

    status = 1


class Interrupted(RunStopped):
    """SIGINT / SIGTERM: a checkpoint was saved at the step boundary; the exit status is the shell's
    128 + signal number, so a scheduler or a batch sees the run did not finish."""

    def __init__(self, message: str, signum: int):
        super().__init__(message)
        self.status = 128 + signum
