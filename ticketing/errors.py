"""Domain errors of the ticketing app, each with a stable ``error`` code for clients.

They are :class:`fairgate.web.ApiError` subclasses, so the shared edge (``fairgate.web.edge``)
turns them into ``{"error", "message", ...}`` bodies; extra keyword fields (``seat_ids``) ride
along.
"""

from __future__ import annotations

from typing import Any

from fairgate.web import ApiError, ServiceUnavailable


class EventNotFound(ApiError):
    status, code, message = 404, "event_not_found", "No such event."


class SeatNotFound(ApiError):
    status, code, message = 404, "seat_not_found", "Some of these seats do not exist."


class HoldNotFound(ApiError):
    status, code, message = 404, "hold_not_found", "No such hold."


class BookingNotFound(ApiError):
    status, code, message = 404, "booking_not_found", "No such booking."


class SeatsUnavailable(ApiError):
    status, code = 409, "seats_unavailable"
    message = "Some of these seats were taken a moment ago."


class LimitExceeded(ApiError):
    status, code = 409, "limit_exceeded"
    message = "This would exceed the number of seats one visitor may buy."


class SaleNotOpen(ApiError):
    status, code, message = 409, "sale_not_open", "The sale has not started yet."


class SaleClosed(ApiError):
    status, code, message = 409, "sale_closed", "The sale has ended."


class HoldAlreadyConfirmed(ApiError):
    status, code, message = 409, "hold_confirmed", "This hold is already a booking."


class HoldExpired(ApiError):
    status, code, message = 410, "hold_expired", "The hold expired; the seats were released."


class HoldReleased(ApiError):
    status, code, message = 410, "hold_released", "The hold was released."


class IdempotencyKeyReused(ApiError):
    status, code = 422, "idempotency_key_reused"
    message = "This Idempotency-Key was used for a different request."


class SeatsNotInEvent(ApiError):
    status, code, message = 422, "seats_not_in_event", "Some seats belong to another event."


class Busy(ApiError):
    """A lock could not be taken in time: the seats are contended, the client may retry."""

    status, code = 409, "busy"
    message = "These seats are being bought right now; try again in a moment."

    def __init__(self, message: str | None = None, *, retry_after: int = 1, **kw: Any) -> None:
        super().__init__(message, headers={"Retry-After": str(retry_after)}, **kw)


class NoSession(ApiError):
    status, code = 401, "no_session"
    message = "Admission from the waiting room is required."


class InvalidToken(ApiError):
    status, code, message = 401, "invalid_token", "This admission token is not valid."


class TokenExpiredError(ApiError):
    status, code, message = 401, "token_expired", "This admission token has expired."


class TokenUsed(ApiError):
    status, code = 409, "token_used"
    message = "This admission link was already used; links work once."


class NoEventForRoom(ApiError):
    status, code, message = 404, "event_not_found", "No event is on sale for this admission."


class DatabaseUnavailable(ServiceUnavailable):
    code = "database_unavailable"
    message = "Seat sales are briefly unavailable; retry shortly."
