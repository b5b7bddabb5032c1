"""A short OpenAPI description of the waiting room's public paths (DESIGN section 8)."""

from __future__ import annotations

from typing import Any

from fairgate.apidoc import SHARED_PATHS

from . import rooms

_ROOM = {"name": "room", "in": "path", "required": True,
         "schema": {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]{0,62}$"}}
_ERR = {"description": "JSON error {error, message}"}
_TICKET = {"name": "X-Queue-Ticket", "in": "header", "required": False,
           "schema": {"type": "string"}, "description": "ticket, instead of the cookie"}
_ADMIN = [{"bearer": []}]

_JOIN_FIELDS = ["room", "number", "ticket", "position", "ahead", "eta_s", "eta_range_s",
                "poll_after_ms", "state"]
_STATUS_FIELDS = ["room", "state", "number", "serving", "position", "ahead", "eta_s",
                  "eta_range_s", "admit_per_minute", "poll_after_ms", "redirect_url"]
# The limits rooms.validate() applies, from the same constants.
_RATE = {"type": "integer", "minimum": 0, "maximum": rooms.MAX_ADMIT_PER_MINUTE}
_SETTINGS = {
    "type": "object",
    "properties": {
        "admit_per_minute": _RATE,
        "max_active": {"type": "integer", "minimum": 1, "maximum": rooms.MAX_ACTIVE},
        "session_ttl": {"type": "integer", "minimum": 1, "maximum": rooms.MAX_SESSION_TTL_S},
        "target_url": {"type": "string", "format": "uri"},
        "state": {"enum": list(rooms.STATES)},
        "mode": {"enum": list(rooms.MODES)},
        "standby_max_per_minute": _RATE,
        "pow_difficulty": {"type": "integer", "minimum": 0,
                           "maximum": rooms.MAX_POW_DIFFICULTY},
        "on_redis_failure": {"enum": list(rooms.REDIS_FAILURE_POLICIES)},
        "opens_at": {"oneOf": [{"type": "number"}, {"type": "string", "format": "date-time"},
                               {"type": "null"}]},
    },
}


def _obj(fields: list[str]) -> dict[str, Any]:
    return {"type": "object", "properties": {f: {} for f in fields}}


SPEC: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {"title": "Fairgate waiting room", "version": "0.1.0"},
    "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
    "paths": {
        **SHARED_PATHS,
        "/r/{room}": {"get": {"summary": "Queue page (joins if needed)", "parameters": [_ROOM],
                              "responses": {"200": {"description": "HTML"}}}},
        "/api/rooms/{room}/join": {"post": {
            "summary": "Take a number (idempotent with a ticket)", "parameters": [_ROOM, _TICKET],
            "requestBody": {"required": False, "content": {"application/json": {"schema": {
                "type": "object", "properties": {"pow": {
                    "type": "object", "description": "solved proof of work, when the room asks",
                    "properties": {"challenge": {"type": "string"},
                                   "solution": {"type": "string"}}}}}}}},
            "responses": {"200": {"description": "ticket",
                                  "content": {"application/json": {"schema": _obj(_JOIN_FIELDS)}}},
                          "404": _ERR, "409": _ERR,
                          "428": {"description": "JSON {error: pow_required, pow: {challenge, "
                                                 "difficulty, algorithm, expires_in_s}}"},
                          "503": _ERR}}},
        "/api/rooms/{room}/status": {"get": {
            "summary": "Poll: place in line, or the redirect once admitted",
            "parameters": [_ROOM, _TICKET],
            "responses": {"200": {"description": "status", "content": {
                "application/json": {"schema": _obj(_STATUS_FIELDS)}}},
                "400": _ERR, "404": _ERR, "410": _ERR, "503": _ERR}}},
        "/api/rooms/{room}/leave": {"post": {
            "summary": "Give up the place or admission slot", "parameters": [_ROOM, _TICKET],
            "responses": {"200": {"description": "{room, left}"}, "400": _ERR}}},
        "/admin/login": {"post": {
            "summary": "Dashboard sign-in (form field token); sets the session cookie",
            "requestBody": {"content": {"application/x-www-form-urlencoded": {"schema": {
                "type": "object", "properties": {"token": {"type": "string"}}}}}},
            "responses": {"303": {"description": "to the dashboard"},
                          "401": {"description": "HTML: token refused"}, "403": _ERR}}},
        "/admin/logout": {"post": {"summary": "Dashboard sign-out", "security": _ADMIN,
                                   "responses": {"200": {"description": "{signed_out}"},
                                                 "401": _ERR, "403": _ERR}}},
        "/admin/api/audit": {"get": {"summary": "Audit log of admin changes",
                                     "security": _ADMIN,
                                     "responses": {"200": {"description": "entries"},
                                                   "401": _ERR}}},
        "/admin": {"get": {"summary": "Operator dashboard (its script uses the admin API)",
                           "responses": {"200": {"description": "HTML"}}}},
        "/admin/api/rooms": {"get": {"summary": "All rooms", "security": _ADMIN,
                                     "responses": {"200": {"description": "{rooms: [...]}"}}}},
        "/admin/api/rooms/{room}": {
            "parameters": [_ROOM],
            "put": {"summary": "Create or replace a room", "security": _ADMIN,
                    "requestBody": {"content": {"application/json": {"schema": _SETTINGS}}},
                    "responses": {"200": {"description": "settings"},
                                  "201": {"description": "created"}, "422": _ERR}},
            "patch": {"summary": "Change any settings (all or nothing)", "security": _ADMIN,
                      "requestBody": {"content": {"application/json": {"schema": _SETTINGS}}},
                      "responses": {"200": {"description": "settings"}, "404": _ERR,
                                    "422": _ERR}},
            "get": {"summary": "A room's settings", "security": _ADMIN,
                    "responses": {"200": {"description": "settings"}, "404": _ERR}},
            "delete": {"summary": "Delete a room and its queue", "security": _ADMIN,
                       "responses": {"204": {"description": "deleted"}, "404": _ERR}},
        },
        "/admin/api/rooms/{room}/stats": {"get": {
            "summary": "Queue length, serving, issued, active, lapsed, measured rate",
            "security": _ADMIN, "parameters": [_ROOM],
            "responses": {"200": {"description": "figures"}, "404": _ERR}}},
        "/admin/api/rooms/{room}/preview": {"get": {
            "summary": "What if: the wait of the last person in line at a proposed rate",
            "security": _ADMIN,
            "parameters": [_ROOM, {"name": "admit_per_minute", "in": "query", "required": True,
                                   "schema": _RATE}],
            "responses": {"200": {"description": "preview", "content": {"application/json": {
                "schema": _obj(["admit_per_minute", "queue_length", "last_wait_s",
                                "last_wait_range_s", "current"])}}},
                "401": _ERR, "404": _ERR, "422": _ERR}}},
        "/admin/api/rooms/{room}/active/{visitor}": {"delete": {
            "summary": "End an admitted visitor's session (the ticketing app's call)",
            "security": _ADMIN,
            "parameters": [_ROOM, {"name": "visitor", "in": "path", "required": True,
                                   "schema": {"type": "string"}}],
            "responses": {"204": {"description": "slot freed"}, "404": _ERR}}},
    },
}
