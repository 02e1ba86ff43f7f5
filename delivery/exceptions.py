"""Domain errors of the delivery core. Interfaces turn them into error frames or JSON errors."""


class DeliveryError(Exception):
    code = "delivery_error"


class InvalidEvent(DeliveryError, ValueError):
    """An emit call's type or payload cannot go into the ledger."""

    code = "invalid_event"


class IdempotencyConflict(InvalidEvent):
    """An idempotency key came back with other events than the ones it first created."""

    code = "idempotency_conflict"


class ThreadNotFound(DeliveryError, LookupError):
    code = "thread_not_found"


class LedgerWriteFailed(DeliveryError, RuntimeError):
    """The ledger commit failed, so nothing was emitted. The agent must see this."""

    code = "ledger_write_failed"


class RateLimited(DeliveryError):
    """A user went over one of their budgets (delivery/ledger/budgets.py)."""

    code = "rate_limited"

    def __init__(self, detail: str, *, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class InvalidToken(DeliveryError):
    code = "invalid_token"


class ReplayError(DeliveryError, ValueError):
    """A replay cannot be planned or requested as asked (no reason, empty plan, bad scope)."""

    code = "replay_error"
