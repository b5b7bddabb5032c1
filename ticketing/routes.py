"""The route table of the ticketing app (DESIGN section 8), flat and named."""

from __future__ import annotations

from aiohttp import web

from . import admin, openapi, views

# 1 to 18 digits: every match fits a bigint id; anything else is a 404 before any query.
ID = r"{%s:\d{1,18}}"


def setup_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/enter", views.enter, name="enter")
    r.add_post("/api/session", views.api_session, name="api_session")
    r.add_delete("/api/session", views.api_leave, name="api_leave")
    r.add_get("/events/" + ID % "event", views.event_page, name="event_page")
    r.add_get("/api/events", views.api_events, name="api_events")
    r.add_get("/api/events/" + ID % "event" + "/seats", views.api_seats, name="api_seats")
    r.add_get("/api/events/" + ID % "event" + "/seats/stream", views.api_seat_stream,
              name="api_seat_stream")
    r.add_post("/api/events/" + ID % "event" + "/holds", views.api_hold, name="api_hold")
    r.add_post("/api/holds/" + ID % "hold" + "/confirm", views.api_confirm, name="api_confirm")
    r.add_delete("/api/holds/" + ID % "hold", views.api_release, name="api_release")
    r.add_get("/api/bookings", views.api_bookings, name="api_bookings")
    r.add_post("/api/bookings/" + ID % "booking" + "/cancel", views.api_cancel,
               name="api_cancel")
    r.add_get("/api/openapi.json", openapi.openapi, name="openapi")
    r.add_post("/admin/api/events", admin.create_event, name="admin_create_event")
    r.add_get("/admin/api/events", admin.list_events, name="admin_events")
    r.add_get("/admin/api/events/" + ID % "event" + "/report", admin.event_report,
              name="admin_event_report")
    r.add_get("/admin/api/audit", admin.audit_log, name="admin_audit")
