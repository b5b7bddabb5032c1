"""The baseline: a bare aiohttp hello-world with the apps' own server settings (uvloop, no
access log, one process)."""

from __future__ import annotations

import argparse

from aiohttp import web

from fairgate.web import install_uvloop


async def hello(request: web.Request) -> web.Response:
    return web.json_response({"hello": "world"})


def make_app() -> web.Application:
    app = web.Application()
    app.router.add_get("/", hello)
    app.router.add_get("/healthz", hello)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    install_uvloop()
    web.run_app(make_app(), host=args.host, port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
