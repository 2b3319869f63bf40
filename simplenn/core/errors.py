"""The exception types for bad input: the CLI turns them into a one-line error and exit status 2."""
from __future__ import annotations


class UsageError(ValueError):
    """Bad input from the user (a flag, a file, a configuration). The message names the option and what is allowed."""


class FieldError(UsageError):
    """Bad value of a named field (`Case.batch_size`, `Settings.min_time_s`, an output folder, …); the CLI renames the
    field to its flag (cli/__init__.main, from the subcommand's FIELD_FLAGS). No field (""): the detail alone.

    The detail may name other fields as "{name}" for each name in `mentions` ("below {min_time_s} 1 s"): below the
    CLI they read as the field names, in the CLI as their flags.
    """

    def __init__(self, field: str, detail: str, mentions: tuple[str, ...] = ()):
        self.field, self.detail, self.mentions = field, detail, tuple(mentions)
        super().__init__(self._text({}))

    def _text(self, flags: dict[str, str]) -> str:
        detail = self.detail
        for name in self.mentions:
            detail = detail.replace("{" + name + "}", flags.get(name, name))
        head = flags.get(self.field, self.field)
        return f"{head}: {detail}" if head else detail

    def as_flag(self, flags: dict[str, str]) -> UsageError:
        """The same error naming the command-line flags that set the field and the fields it mentions."""
        return UsageError(self._text(flags))


class Terminated(KeyboardInterrupt):
    """A stop signal (SIGTERM) turned into an exception, so that `finally` blocks clean up as on Ctrl-C; `signum`
    gives the exit status 128 + signum that shells and supervisors expect (143 for SIGTERM, 130 for Ctrl-C)."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


class Notice(UserWarning):
    """A warning meant for the user (a dropped torn line, …): the CLI prints it as one line, without Python's
    file and line location."""
