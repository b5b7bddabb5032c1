"""OpenAPI entries of the paths ``fairgate.web.base_app`` gives both apps, merged into each
app's own document so it describes every route the app serves."""

from __future__ import annotations

from typing import Any

_JSON_OBJ = {"application/json": {"schema": {"type": "object"}}}

SHARED_PATHS: dict[str, Any] = {
    "/healthz": {"get": {"summary": "Liveness: the process answers",
                         "responses": {"200": {"description": "{status, app}",
                                               "content": _JSON_OBJ}}}},
    "/readyz": {"get": {"summary": "Readiness: every backend answers within a second",
                        "responses": {"200": {"description": "ready", "content": _JSON_OBJ},
                                      "503": {"description": "{status, failing}",
                                              "content": _JSON_OBJ}}}},
    "/metrics": {"get": {"summary": "Prometheus exposition",
                         "responses": {"200": {"description": "text/plain metrics"}}}},
    "/api/openapi.json": {"get": {"summary": "This document",
                                  "responses": {"200": {"description": "OpenAPI 3",
                                                        "content": _JSON_OBJ}}}},
}
