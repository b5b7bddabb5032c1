"""The operator dashboard page and its sign-in (see fairgate.adminauth for the cookie rules).

``GET /admin`` shows a sign-in form, or, with a valid session cookie, the dashboard shell whose
script reads the admin API with that cookie. Signing in is an ordinary form POST, so it works
without script; the session cookie is HttpOnly and SameSite=Strict, and the page carries the
session's CSRF value for the ``X-CSRF-Token`` header of its writes.
"""

from __future__ import annotations

from aiohttp import web

from fairgate import adminauth
from fairgate.logs import log_event
from fairgate.web import SETTINGS_KEY, Forbidden, read_form, render, require_admin

from .admin_strings import DASHBOARD_STRINGS


def _page(request: web.Request, session: adminauth.AdminSession | None, *,
          refused: bool = False, status: int = 200) -> web.Response:
    router = request.app.router
    response = render(request, "admin.html", {
        "session": session,
        "refused": refused,
        "login_url": str(router["admin_login"].url_for()),
        "logout_url": str(router["admin_logout"].url_for()),
        "api_url": str(router["admin_rooms"].url_for()),
        "audit_url": str(router["admin_audit"].url_for()),
    }, catalog=DASHBOARD_STRINGS, status=status)
    # The page carries the session's CSRF value: no cache may keep it.
    response.headers["Cache-Control"] = "no-store"
    # With "no-referrer" chromium sends ``Origin: null`` on the sign-in form's POST; this page
    # puts no secret in a URL, so it may name itself to its own site (and only to it).
    response.headers["Referrer-Policy"] = "same-origin"
    return response


async def dashboard(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS_KEY]
    session = adminauth.load_session(settings, request.cookies.get(adminauth.COOKIE, ""))
    return _page(request, session)


def _same_site(request: web.Request) -> None:
    """Signing in from a foreign page (login CSRF) is refused when the browser names it."""
    origin = request.headers.get("Origin")
    if origin is not None and not adminauth.csrf_ok(
        adminauth.AdminSession("", "x"), "x", origin, request.host
    ):
        raise Forbidden("Sign in from the dashboard page itself.", code="csrf_failed")


async def login(request: web.Request) -> web.Response:
    _same_site(request)
    form = await read_form(request)
    token = form.get("token")
    made = adminauth.new_session(request.app[SETTINGS_KEY], token) if isinstance(
        token, str) else None
    if made is None:
        log_event("admin_login_refused", app="waitingroom", remote=request.remote)
        return _page(request, None, refused=True, status=401)
    value, session = made
    log_event("admin_login", app="waitingroom", actor=session.actor)
    response = web.Response(
        status=303, headers={"Location": str(request.app.router["admin_dashboard"].url_for())})
    response.set_cookie(
        adminauth.COOKIE, value, max_age=adminauth.SESSION_MAX_AGE_S, path="/admin",
        httponly=True, samesite="Strict", secure=request.secure,
    )
    return response


async def logout(request: web.Request) -> web.Response:
    actor = require_admin(request)  # a cookie-borne POST: the CSRF header is checked there
    log_event("admin_logout", app="waitingroom", actor=actor)
    response = web.json_response({"signed_out": True})
    response.del_cookie(adminauth.COOKIE, path="/admin")
    return response
