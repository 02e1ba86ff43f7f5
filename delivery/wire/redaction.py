"""Keeps API tokens out of every log line, daphne's access log included."""

import logging
import re

_TOKEN_RE = re.compile(r"((?:[?&]token=)|(?:Bearer\s+))[^\s&\"']+", re.IGNORECASE)


def redact(text: str) -> str:
    return _TOKEN_RE.sub(r"\1[redacted]", text)


class RedactTokensFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True
