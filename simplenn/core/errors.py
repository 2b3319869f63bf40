"""The exception types for bad input: the CLI turns them into a one-line error and exit status 2."""
from __future__ import annotations


class UsageError(ValueError):
    """Bad input from the user (a flag, a file, a configuration). The message names the option and what is allowed."""


class FieldError(UsageError):
    """Bad value of a named field (`Case.batch_size`, `Settings.min_time_s`, …); the CLI renames the field to its flag."""

    def __init__(self, field: str, detail: str):
        super().__init__(f"{field}: {detail}")
        self.field, self.detail = field, detail

    def as_flag(self, flags: dict[str, str]) -> UsageError:
        """The same error naming the command-line flag that sets the field (the field's name when none does)."""
        return UsageError(f"{flags.get(self.field, self.field)}: {self.detail}")


class Terminated(KeyboardInterrupt):
    """A stop signal (SIGTERM) turned into an exception, so that `finally` blocks clean up as on Ctrl-C; `signum`
    gives the exit status 128 + signum that shells and supervisors expect (143 for SIGTERM, 130 for Ctrl-C)."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


class Notice(UserWarning):
    """A warning meant for the user (a dropped torn line, …): the CLI prints it as one line, without Python's
    file and line location."""
