"""Domain errors of the console. Views turn them into fragments, the API into JSON errors.

`code` names the error in the API's `{"error": code, "detail": text}`; `status` is the HTTP
status both the pages and the API answer with.
"""


class ConsoleError(Exception):
    code = "console_error"
    status = 400


class BadBody(ConsoleError):
    """An API request body that is not a JSON object."""


class BadFilter(ConsoleError):
    """A search filter or cursor that cannot be parsed."""

    code = "bad_filter"


class ReplayRefused(ConsoleError):
    """A replay that cannot be planned or requested as asked: a bad scope, an empty plan, no
    reason. The code is delivery's, which refuses most of these."""

    code = "replay_error"


class RevealRefused(ConsoleError):
    """A content reveal without a reason, which the audit needs."""

    code = "reveal_error"


class NotFound(ConsoleError):
    code = "not_found"
    status = 404


class NotSignedIn(ConsoleError):
    code = "unauthenticated"
    status = 401


class Forbidden(ConsoleError):
    """Signed in, but not staff or without the console permission the action needs."""

    code = "forbidden"
    status = 403
