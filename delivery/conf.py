"""Typed settings, read once and checked at startup.

Each app declares its settings as a frozen dataclass with defaults; a project overrides them
with a dict of UPPERCASE keys (`LEDGERLINE` for the delivery core). Unknown keys, wrong types
and out-of-range values are reported by a system check (`manage.py check`, and every start),
so a typo fails at startup with the key's name, not at run time.
"""

import dataclasses
import difflib
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed

T = TypeVar("T")


def at_least(minimum: float) -> dict[str, float]:
    """Field metadata: the smallest value the setting accepts (0 unless said otherwise)."""
    return {"minimum": minimum}


def one_of(*choices: str) -> dict[str, tuple[str, ...]]:
    """Field metadata: the only values a text setting accepts."""
    return {"choices": choices}


class SettingsBlock(Generic[T]):
    """One app's settings: the dataclass `schema`'s defaults, overridden by `settings.<name>`."""

    def __init__(self, name: str, schema: type[T], check_id: str) -> None:
        self.name, self.schema, self.check_id = name, schema, check_id
        self._value: T | None = None
        setting_changed.connect(self._reset, weak=False)

    def __call__(self) -> T:
        if self._value is None:
            problems = self.problems()
            if problems:
                raise ImproperlyConfigured(f"settings.{self.name}: " + "; ".join(problems))
            self._value = self.schema(**self._overrides())
        return self._value

    def problems(self) -> list[str]:
        raw = getattr(settings, self.name, {})
        if not isinstance(raw, dict):
            return [f"must be a dict, not {type(raw).__name__}"]
        fields = {f.name.upper(): f for f in dataclasses.fields(self.schema)}  # type: ignore[arg-type]
        found = []
        for key, value in raw.items():
            field = fields.get(key)
            if field is None:
                near = difflib.get_close_matches(str(key), fields, n=1)
                hint = f" (did you mean {near[0]!r}?)" if near else ""
                found.append(f"unknown key {key!r}{hint}")
            else:
                found.extend(_value_problems(key, value, field))
        if not found:  # settings that only make sense together
            found.extend(getattr(self.schema(**self._overrides()), "together", list)())
        return found

    def check(self, app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
        """The system check: one error per problem, naming the setting and the key."""
        return [
            checks.Error(f"settings.{self.name}: {problem}", id=self.check_id)
            for problem in self.problems()
        ]

    def register_check(self) -> None:
        """Run `check` with Django's system checks (call it from `AppConfig.ready`)."""

        def settings_check(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
            return self.check(app_configs, **kwargs)

        checks.register(settings_check)

    def _overrides(self) -> dict[str, Any]:
        raw: dict[str, Any] = getattr(settings, self.name, {})
        return {key.lower(): value for key, value in raw.items()}

    def _reset(self, *, setting: str, **kwargs: Any) -> None:
        if setting == self.name:
            self._value = None


def _value_problems(key: str, value: Any, field: "dataclasses.Field[Any]") -> list[str]:
    if field.type in (str, "str"):
        choices = field.metadata.get("choices")
        if not isinstance(value, str):
            return [f"{key} must be text, not {value!r}"]
        if choices is not None and value not in choices:
            return [f"{key} must be one of {', '.join(map(repr, choices))}, not {value!r}"]
        return []
    kind: Callable[..., Any] = float if field.type in (float, "float") else int
    allowed = (int, float) if kind is float else (int,)
    if isinstance(value, bool) or not isinstance(value, allowed):
        return [f"{key} must be a number ({kind.__name__}), not {value!r}"]
    minimum = field.metadata.get("minimum", 0)
    if value < minimum:
        return [f"{key} must be at least {minimum}, not {value!r}"]
    return []


@dataclasses.dataclass(frozen=True)
class DeliverySettings:
    """`settings.LEDGERLINE`: timings in seconds, limits in counts and bytes."""

    ack_deadline: float = 8.0  # an event unacked this long after its send is retried
    ack_flush_interval: float = dataclasses.field(default=0.5, metadata=at_least(0.001))
    reconcile_interval: float = dataclasses.field(default=2.0, metadata=at_least(0.01))
    ping_interval: float = dataclasses.field(default=5.0, metadata=at_least(0.01))
    ping_timeout: float = dataclasses.field(default=12.0, metadata=at_least(0.01))
    heartbeat_persist_interval: float = 10.0
    run_timeout: float = dataclasses.field(default=180.0, metadata=at_least(0.01))
    retry_budget: int = dataclasses.field(default=5, metadata=at_least(1))
    retention_days: int = 30  # 0 turns retention off
    partition_days_ahead: int = dataclasses.field(default=7, metadata=at_least(1))
    token_ttl: int = dataclasses.field(default=30 * 24 * 3600, metadata=at_least(1))
    max_frame_bytes: int = dataclasses.field(default=64 * 1024, metadata=at_least(256))
    max_payload_bytes: int = dataclasses.field(default=256 * 1024, metadata=at_least(2))
    rate_limit_per_second: float = dataclasses.field(default=100.0, metadata=at_least(0.01))
    rate_limit_burst: int = dataclasses.field(default=500, metadata=at_least(1))
    layer_send_timeout: float = dataclasses.field(default=2.0, metadata=at_least(0.01))
    backfill_chunk: int = dataclasses.field(default=500, metadata=at_least(1))
    long_poll_seconds: float = dataclasses.field(default=25.0, metadata=at_least(0.1))
    # Per-user budgets, across all of a user's sockets and HTTP calls (docs/security.md).
    messages_per_minute: int = dataclasses.field(default=30, metadata=at_least(1))
    sockets_per_user: int = dataclasses.field(default=20, metadata=at_least(1))
    # A token a logged-in browser asks for with POST /api/tokens, for a frontend served apart.
    session_token_ttl: int = dataclasses.field(default=900, metadata=at_least(1))
    # JWT mode (docs/integrate.md): an identity provider's tokens open sockets and call the
    # API; `sub` is the username. Off while JWT_ALGORITHM is "".
    jwt_algorithm: str = dataclasses.field(default="", metadata=one_of("", "HS256", "RS256"))
    jwt_key: str = ""  # the HS256 secret, or the RS256 public key (PEM)
    jwt_audience: str = ""  # `aud` must name it
    jwt_issuer: str = ""  # `iss` must be it, when set
    jwt_leeway: float = dataclasses.field(default=30.0, metadata=at_least(0))

    def together(self) -> list[str]:
        if self.jwt_algorithm and not (self.jwt_key and self.jwt_audience):
            return ["JWT_ALGORITHM needs JWT_KEY and JWT_AUDIENCE"]
        return []


current = SettingsBlock("LEDGERLINE", DeliverySettings, "delivery.E001")
"""`conf.current()` is the delivery core's settings, read once (again after a change in tests)."""
