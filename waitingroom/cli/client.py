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
                text = await resp.text()
                status = resp.status
        except (aiohttp.ClientConnectionError, TimeoutError) as exc:
            raise CannotConnect(f"cannot reach {self.base}: "
                                f"{exc or exc.__class__.__name__}") from exc
        except aiohttp.ClientError as exc:
            raise ApiFailure(f"{url}: {exc.__class__.__name__}: {exc}") from exc
        try:
            data = json.loads(text) if text else None
        except ValueError as exc:
            raise ApiFailure(f"{url} answered HTTP {status} without JSON") from exc
        if status not in ok:
            raise failure(status, data)
        return status, data

    async def get(self, path: str) -> Any:
        return (await self.call("GET", path))[1]


def failure(status: int, data: Any) -> ApiFailure:
    if isinstance(data, dict) and "message" in data:
        field = f" (field: {data['field']})" if "field" in data else ""
        return ApiFailure(f"HTTP {status} {data.get('error', '')}: {data['message']}{field}")
    return ApiFailure(f"HTTP {status}")


def session(token: str) -> aiohttp.ClientSession:
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    return aiohttp.ClientSession(headers=headers, timeout=TIMEOUT)
