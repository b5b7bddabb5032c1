"""HTTP calls of the operator CLI and what its exit codes mean."""

from __future__ import annotations

import json
from typing import Any

import aiohttp

# Exit codes (documented in the README's operator section and in ``--help``).
EXIT_OK = 0  # done
EXIT_API = 1  # the API answered with an error (refused token, bad value, unknown room, 5xx)
EXIT_USAGE = 2  # wrong command line, or no admin token
EXIT_CONNECT = 3  # the server could not be reached (refused, timed out, name unknown)

TIMEOUT = aiohttp.ClientTimeout(total=10)


class CliFailure(Exception):
    """Ends the command with ``exit_code`` and a one-line message on stderr."""

    exit_code = EXIT_API


class ApiFailure(CliFailure):
    exit_code = EXIT_API

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status  # the HTTP status, when the server answered one


class CannotConnect(CliFailure):
    exit_code = EXIT_CONNECT


class Api:
    """A small client of one app's admin API (bearer token)."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str) -> None:
        self.session = session
        self.base = base_url.rstrip("/")

    async def call(
        self, method: str, path: str, body: dict[str, Any] | None = None,
        *, ok: tuple[int, ...] = (200, 201, 204),
    ) -> tuple[int, Any]:
        url = self.base + path
        try:
            async with self.session.request(method, url, json=body) as resp:
                status = resp.status
                text = await resp.text()
        except TimeoutError as exc:
            raise CannotConnect(f"cannot reach {self.base}: no answer within "
                                f"{TIMEOUT.total:g} s") from exc
        except aiohttp.ClientConnectionError as exc:
            raise CannotConnect(f"cannot reach {self.base}: "
                                f"{str(exc) or exc.__class__.__name__}") from exc
        except aiohttp.ClientError as exc:  # a server that does not speak HTTP, and the like
            reason = (str(exc).splitlines() or [""])[0]
            raise ApiFailure(f"{url}: {exc.__class__.__name__}: {reason}") from exc
        except UnicodeDecodeError as exc:
            raise ApiFailure(f"{url} answered HTTP {status} with a body that is not text") from exc
        try:
            data = json.loads(text) if text else None
        except ValueError as exc:
            raise ApiFailure(f"{url} answered HTTP {status} without JSON", status) from exc
        if status not in ok:
            raise failure(status, data, url)
        if not isinstance(data, dict) and status != 204:
            # Every answer of the admin APIs is a JSON object.
            raise ApiFailure(f"{url} answered HTTP {status} with JSON that is no admin API "
                             "answer: is the URL the right app?", status)
        return status, data

    async def get(self, path: str) -> Any:
        return (await self.call("GET", path))[1]


def failure(status: int, data: Any, url: str) -> ApiFailure:
    if isinstance(data, dict) and "message" in data:
        field = f" (field: {data['field']})" if "field" in data else ""
        code = f" {data['error']}" if data.get("error") else ""
        # A path no route takes: most likely --url names the other app, or has a path prefix.
        where = f" ({url}: is the URL the right app?)" if data.get("error") == "not_found" else ""
        return ApiFailure(f"HTTP {status}{code}: {data['message']}{field}{where}", status)
    return ApiFailure(f"HTTP {status}", status)


def session(token: str) -> aiohttp.ClientSession:
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    return aiohttp.ClientSession(headers=headers, timeout=TIMEOUT)
