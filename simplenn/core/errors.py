"""The exception types for bad input: the CLI turns them into a one-line error and exit status 2."""
from __future__ import annotations


class UsageError(ValueError):
    """Bad input from the user (a flag, a file, a configuration). The message names the option and what is allowed."""


class FieldError(UsageError):
    """Bad value of a named field (`Case.batch_size`, `Settings.min_time_s`, an output folder, …); the CLI renames the
    field to its flag (cli/__init__.main, from the subcommand's FIELD_FLAGS). No field (""): the detail alone."""

    def __init__(self, field: str, detail: str):
        super().__init__(f"{field}: {detail}" if field else detail)
        self.field, self.detail = field, detail

    def as_flag(self, flags: dict[str, str]) -> UsageError:
        """The same error naming the command-line flag that sets the field (the field's name when none does)."""
        name = flags.get(self.field, self.field)
        return UsageError(f"{name}: {self.detail}" if name else self.detail)
