"""The one exception type for bad input: the CLI turns it into a one-line error and exit status 2."""


class UsageError(ValueError):
    """Bad input from the user (a flag, a file, a configuration). The message names the option and what is allowed."""
