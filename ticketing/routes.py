"""The route table of the ticketing app (DESIGN section 8), flat and named."""

from __future__ import annotations

from aiohttp import web

from . import admin, openapi, views

# 1 to 18 digits: every match fits a bigint id; anything else is a 404 before any query.
ID = r"{%s:\d{1,18}}"
EVENT = "/api/events/" + ID % "event"

ROUTES = [
    web.get("/enter", views.enter, name="enter"),
    web.post("/api/session", views.api_session, name="api_session"),
    web.delete("/api/session", views.api_leave, name="api_leave"),
    web.get("/events/" + ID % "event", views.event_page, name="event_page"),
    web.get("/api/events", views.api_events, name="api_events"),
    web.get(EVENT + "/seats", views.api_seats, name="api_seats"),
    web.get(EVENT + "/seats/stream", views.api_seat_stream, name="api_seat_stream"),
    web.post(EVENT + "/holds", views.api_hold, name="api_hold"),
    web.post("/api/holds/" + ID % "hold" + "/confirm", views.api_confirm, name="api_confirm"),
    web.delete("/api/holds/" + ID % "hold", views.api_release, name="api_release"),
    web.get("/api/bookings", views.api_bookings, name="api_bookings"),
    web.post("/api/bookings/" + ID % "booking" + "/cancel", views.api_cancel,
             name="api_cancel"),
    web.get("/api/openapi.json", openapi.openapi, name="openapi"),
    web.post("/admin/api/events", admin.create_event, name="admin_create_event"),
    web.get("/admin/api/events", admin.list_events, name="admin_events"),
    web.get("/admin/api/events/" + ID % "event" + "/report", admin.event_report,
            name="admin_event_report"),
    web.get("/admin/api/audit", admin.audit_log, name="admin_audit"),
]
