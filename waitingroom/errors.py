"""Waiting-room errors; fairgate.web's edge turns each into a JSON answer with a
stable ``error`` code."""

from __future__ import annotations

from fairgate.web import ApiError, BadRequest, NotFound, ServiceUnavailable


class InvalidRoomName(BadRequest):
    code = "invalid_room"
    message = "Room names are 1-63 lowercase letters, digits or hyphens."


class RoomNotFound(NotFound):
    code = "room_not_found"
    message = "There is no such waiting room."


class RoomClosed(ApiError):
    status, code = 409, "room_closed"
    message = "This waiting room is closed."


class NoTicket(BadRequest):
    code = "no_ticket"
    message = "Join the queue first: no valid ticket for this room."


class TurnPassed(ApiError):
    """The ticket's number was called and its session is over (or the visitor left)."""

    status, code = 410, "turn_passed"
    message = "This ticket's turn has passed; join again for a new number."


class RedisUnavailable(ServiceUnavailable):
    code = "queue_unavailable"
    message = "The queue is reconnecting; your place is kept. Retry shortly."


class RoomRejecting(ApiError):
    """The room's mode is ``reject``: newcomers are turned away, places already held are kept."""

    status, code = 409, "sold_out"
    message = "Sold out for now: this waiting room takes no new visitors. Come back later."
