"""Run daphne with an access log that never shows a token.

    python -m config.serve [daphne arguments...]

daphne's access log writes each request path, `?token=` included, straight to its stream without
going through `logging`, so the LOGGING filter cannot reach it. This swaps in an access logger whose
stream redacts every line, then hands over to daphne's own command line.
"""

import sys
from typing import Any, TextIO

import daphne.cli
from daphne.access import AccessLogGenerator

from delivery.wire.redaction import redact


class RedactingStream:
    """A write-only text stream that redacts tokens and flushes each access-log line."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def write(self, text: str) -> int:
        written = self.stream.write(redact(text))
        self.stream.flush()
        return written

    def flush(self) -> None:
        self.stream.flush()


class RedactingAccessLogGenerator(AccessLogGenerator):
    def __init__(self, stream: TextIO, *args: Any, **kwargs: Any) -> None:
        super().__init__(RedactingStream(stream), *args, **kwargs)


def main() -> None:
    daphne.cli.AccessLogGenerator = RedactingAccessLogGenerator
    sys.argv[0] = "daphne"
    daphne.cli.CommandLineInterface.entrypoint()


if __name__ == "__main__":
    main()
