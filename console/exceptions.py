"""Domain errors of the console. Views turn them into fragments, the API into JSON errors."""


class ConsoleError(Exception):
    code = "console_error"
    status = 400


class BadFilter(ConsoleError):
    """A search filter or cursor that cannot be parsed."""

    code = "bad_filter"


class NotFound(ConsoleError):
    code = "not_found"
    status = 404
