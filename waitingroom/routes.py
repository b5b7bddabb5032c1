"""The waiting room's URL table (DESIGN section 8), one flat list with a name per route."""

from __future__ import annotations

from aiohttp import web

from . import admin, dashboard, preview, views

ROUTES = [
    web.get("/r/{room}", views.queue_page, name="queue_page"),
    # The status poll first: routes under one path prefix are tried in this order.
    web.get("/api/rooms/{room}/status", views.status, name="status"),
    web.post("/api/rooms/{room}/join", views.join, name="join"),
    web.post("/api/rooms/{room}/leave", views.leave, name="leave"),
    web.get("/api/openapi.json", views.openapi, name="openapi"),
    web.get("/admin", dashboard.dashboard, name="admin_dashboard"),
    web.post("/admin/login", dashboard.login, name="admin_login"),
    web.post("/admin/logout", dashboard.logout, name="admin_logout"),
    web.get("/admin/api/audit", admin.audit_log, name="admin_audit"),
    web.get("/admin/api/rooms", admin.list_rooms, name="admin_rooms"),
    web.put("/admin/api/rooms/{room}", admin.put_room, name="admin_room_put"),
    web.patch("/admin/api/rooms/{room}", admin.patch_room, name="admin_room_patch"),
    web.get("/admin/api/rooms/{room}", admin.get_room, name="admin_room"),
    web.delete("/admin/api/rooms/{room}", admin.delete_room, name="admin_room_delete"),
    web.get("/admin/api/rooms/{room}/stats", admin.room_stats, name="admin_room_stats"),
    web.get("/admin/api/rooms/{room}/preview", preview.preview, name="admin_room_preview"),
    web.delete(
        "/admin/api/rooms/{room}/active/{visitor}", admin.end_session, name="admin_end_session"
    ),
]
