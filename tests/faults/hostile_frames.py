"""Hypothesis strategies for what a hostile or broken client sends, and what it must get back."""

import json
import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from delivery.wire.protocol import Ack, FrameError, Message, parse_frame

MAX_FRAME_BYTES = 64 * 1024
CLIENT_TYPES = ["ack", "resume", "pong", "message", "hello", "event", "ping", "error", "", None]

json_scalars = st.one_of(
    st.none(), st.booleans(), st.text(max_size=20),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([2**53, 2**53 - 1, -1, 10**400, 0.5, 1e308, math.inf, -math.inf, math.nan]),
)  # fmt: skip
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
shaped = st.fixed_dictionaries(
    {"type": st.sampled_from(CLIENT_TYPES)},
    optional={"seq": json_values, "after": json_values, "t": json_values,
              "text": json_values, "client_id": json_values},
)  # fmt: skip


@st.composite
def deep(draw) -> str:
    depth = draw(st.integers(min_value=50, max_value=30_000))
    opener = draw(st.sampled_from(["[", '{"a":']))
    return opener * depth


shaped_text = shaped.map(lambda d: json.dumps(d))
# Oversize frames close the socket, so they are drawn rarely (one branch in sixteen).
frames = st.one_of(
    *[shaped_text] * 6,
    *[json_values.map(lambda v: json.dumps(v))] * 3,
    *[st.text(max_size=200)] * 2,
    *[st.binary(max_size=300)] * 2,
    deep(),
    st.integers(min_value=MAX_FRAME_BYTES - 64, max_value=MAX_FRAME_BYTES + 4096).map(
        lambda n: json.dumps({"type": "pong", "t": "x" * n})
    ),
    st.just(json.dumps({"type": "ack", "seq": 0})),
)


def expected_error(frame: str | bytes) -> tuple[str | None, int | None]:
    """The error code and close code the server owes this frame on a socket of a thread with
    no events; (None, None) if it is valid there."""
    if isinstance(frame, bytes):
        return "binary_not_supported", None
    try:
        parsed = parse_frame(frame, max_bytes=MAX_FRAME_BYTES)
    except FrameError as exc:
        return exc.code, exc.close
    if isinstance(parsed, Message):
        return "skip", None
    if isinstance(parsed, Ack) and parsed.seq > 0:
        return "ack_beyond_sent", None  # the fuzzed threads have no events: nothing was sent
    return None, None


def hostile_frames(count: int) -> list[str | bytes]:
    """At least `count` frames drawn by Hypothesis (valid user messages left out: they would
    start agent runs, which is not what this fuzzer is about)."""
    drawn: list[str | bytes] = []

    @settings(max_examples=count + count // 10, database=None, deadline=None, derandomize=True,
              suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(frames)
    def collect(frame: str | bytes) -> None:
        if expected_error(frame)[0] != "skip":
            drawn.append(frame)

    collect()
    return drawn
