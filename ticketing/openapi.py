"""A compact OpenAPI description of the ticketing HTTP surface (DESIGN section 8)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from fairgate.apidoc import SHARED_PATHS

_JSON = {"application/json": {"schema": {"type": "object"}}}


def _op(summary: str, *codes: int, body: bool = False) -> dict[str, Any]:
    op: dict[str, Any] = {
        "summary": summary,
        "responses": {str(c): {"description": str(c), "content": _JSON} for c in codes},
    }
    if body:
        op["requestBody"] = {"required": True, "content": _JSON}
    return op


SPEC: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {"title": "Fairgate ticketing", "version": "1"},
    "components": {"securitySchemes": {"session": {"type": "http", "scheme": "bearer"}}},
    "paths": {
        **SHARED_PATHS,
        "/events/{event}": {"get": {
            "summary": "Seat page (HTML); without a session 303 to the waiting room",
            "responses": {"200": {"description": "HTML"}, "303": {"description": "to queue"}}}},
        "/enter": {"get": _op("Exchange an admission token (query `token`) for a session "
                              "cookie; 303 to the event page", 303, 401, 404, 409)},
        "/api/session": {
            "post": _op("Exchange {token} for {session, event_id, expires_at}",
                        200, 401, 404, 409, 422, body=True),
            "delete": _op("Leave: release holds, free the waiting-room slot", 200, 401),
        },
        "/api/events": {"get": _op("Events on sale", 200)},
        "/api/events/{event}/seats": {"get": _op("Seat map {version, seats} with ETag",
                                                 200, 304, 401, 404)},
        "/api/events/{event}/seats/stream": {"get": _op("Server-sent seat changes", 200, 401)},
        "/api/events/{event}/holds": {"post": _op(
            "Hold {seat_ids} (Idempotency-Key header)", 201, 401, 404, 409, 422, body=True)},
        "/api/holds/{hold}/confirm": {"post": _op("Book a hold", 201, 401, 404, 410)},
        "/api/holds/{hold}": {"delete": _op("Release a hold", 204, 401, 404, 409)},
        "/api/bookings": {"get": _op("The buyer's bookings", 200, 401)},
        "/api/bookings/{booking}/cancel": {"post": _op("Cancel a booking", 200, 401, 404)},
        "/admin/api/events": {
            "get": _op("All events (admin)", 200, 401),
            "post": _op("Create an event with its layout (admin)", 201, 401, 409, 422,
                        body=True),
        },
        "/admin/api/events/{event}/report": {"get": _op("Reconciliation report (admin)",
                                                        200, 401, 404)},
        "/admin/api/audit": {"get": _op("Audit log of admin changes, newest first (?limit=)",
                                        200, 401, 422)},
    },
}


async def openapi(request: web.Request) -> web.Response:
    return web.json_response(SPEC)
