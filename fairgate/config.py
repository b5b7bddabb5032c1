"""Configuration shared by both apps, read from environment variables (DESIGN section 9).

Demo mode has safe defaults: signing keys and the admin token are generated once and kept under
``DATA_DIR`` so restarts do not log anyone out. Production mode (``FAIRGATE_ENV=production``)
refuses to start without explicit secrets. A bad value raises :class:`ConfigError` whose message
is one line naming the variable.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit


class ConfigError(Exception):
    """A configuration value is missing or invalid; the message is meant for the operator."""


_PRODUCTION_VALUES = {"production", "prod"}


@dataclass(frozen=True)
class Settings:
    redis_url: str | None = None
    database_url: str | None = None
    data_dir: Path = Path(".data")
    secret_keys: tuple[str, ...] = ()
    admin_token: str = ""
    # Named operator tokens (ADMIN_OPERATORS="alice:token,bob:token"): the audit log records the
    # name of whoever made a change; ADMIN_TOKEN itself is recorded as "admin".
    admin_operators: Mapping[str, str] = field(default_factory=dict)
    host: str = "127.0.0.1"
    waitingroom_port: int = 8080
    ticketing_port: int = 8081
    production: bool = False
    # Public base URLs the apps use to send people to each other.
    waitingroom_url: str = ""
    ticketing_url: str = ""
    # asyncpg: 0 disables the prepared-statement cache, needed behind PgBouncer (transaction mode).
    pg_statement_cache_size: int = 100
    pg_pool_min: int = 2
    pg_pool_max: int = 20
    redis_pool_size: int = 50
    # Extra knobs kept as strings for modules that own them (for example test-sized intervals).
    extra: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        production = env.get("FAIRGATE_ENV", "").strip().lower() in _PRODUCTION_VALUES
        data_dir = Path(env.get("DATA_DIR") or ".data").expanduser().resolve()
        host = env.get("HOST") or "127.0.0.1"
        wr_port = _port(env, "WAITINGROOM_PORT", 8080)
        tk_port = _port(env, "TICKETING_PORT", 8081)

        keys_raw = env.get("SECRET_KEYS", "").strip()
        if keys_raw:
            keys = tuple(k.strip() for k in keys_raw.split(",") if k.strip())
            short = [i for i, k in enumerate(keys) if len(k) < 16]
            if short:
                raise ConfigError(
                    f"SECRET_KEYS: key #{short[0] + 1} is shorter than 16 characters"
                )
        elif production:
            raise ConfigError("SECRET_KEYS is required when FAIRGATE_ENV=production")
        else:
            keys = (_generated_secret(data_dir, "secret_key"),)

        admin_token = env.get("ADMIN_TOKEN", "").strip()
        if admin_token and len(admin_token) < 16:
            raise ConfigError("ADMIN_TOKEN must be at least 16 characters")
        if not admin_token:
            if production:
                raise ConfigError("ADMIN_TOKEN is required when FAIRGATE_ENV=production")
            admin_token = _generated_secret(data_dir, "admin_token")

        operators = _operators(env.get("ADMIN_OPERATORS", ""))

        public_host = "127.0.0.1" if host in ("0.0.0.0", "::") else host
        wr_url = _url(env, "WAITINGROOM_URL", f"http://{public_host}:{wr_port}")
        tk_url = _url(env, "TICKETING_URL", f"http://{public_host}:{tk_port}")

        return cls(
            redis_url=_dsn(env, "REDIS_URL", ("redis", "rediss", "unix", "redis+cluster",
                                               "redis+sentinel")),
            database_url=_dsn(env, "DATABASE_URL", ("postgres", "postgresql")),
            data_dir=data_dir,
            secret_keys=keys,
            admin_token=admin_token,
            admin_operators=operators,
            host=host,
            waitingroom_port=wr_port,
            ticketing_port=tk_port,
            production=production,
            waitingroom_url=wr_url,
            ticketing_url=tk_url,
            pg_statement_cache_size=_int(env, "PG_STATEMENT_CACHE_SIZE", 100, low=0),
            pg_pool_min=_int(env, "PG_POOL_MIN", 2, low=0),
            pg_pool_max=_int(env, "PG_POOL_MAX", 20, low=1),
            redis_pool_size=_int(env, "REDIS_POOL_SIZE", 50, low=1),
            extra={k: v for k, v in env.items() if k.startswith(("WR_", "TK_"))},
        )

    def extra_float(self, name: str, default: float) -> float:
        """A module-owned tuning value such as ``WR_DEBOUNCE_MS`` (a one-line error if bad)."""
        raw = self.extra.get(name)
        if raw is None or raw == "":
            return default
        try:
            value = float(raw)
        except ValueError:
            raise ConfigError(f"{name}: expected a number, got {raw!r}") from None
        if value < 0:
            raise ConfigError(f"{name}: must not be negative, got {raw!r}")
        return value


def _operators(raw: str) -> dict[str, str]:
    """``name:token`` pairs, comma-separated; names are what the audit log shows."""
    found: dict[str, str] = {}
    for item in (x.strip() for x in raw.split(",")):
        if not item:
            continue
        name, sep, token = item.partition(":")
        name, token = name.strip(), token.strip()
        if not sep or not re.fullmatch(r"[A-Za-z0-9_.@-]{1,40}", name) or name == "admin":
            raise ConfigError(f"ADMIN_OPERATORS: {name or item!r} is not a name:token pair "
                              "(names: letters, digits, _.@-; 'admin' is reserved)")
        if len(token) < 16:
            raise ConfigError(f"ADMIN_OPERATORS: the token of {name} is shorter than 16 "
                              "characters")
        found[name] = token
    return found


def _generated_secret(data_dir: Path, name: str) -> str:
    """Read a secret kept under DATA_DIR, creating it (mode 0600) on first use."""
    path = data_dir / "secrets" / name
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(32)
    # O_EXCL: when two processes race to create it, the loser reads the winner's value.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as fh:
        fh.write(value + "\n")
    return value


def _int(env: Mapping[str, str], name: str, default: int, *, low: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}: expected a whole number, got {raw!r}") from None
    if value < low:
        raise ConfigError(f"{name}: must be at least {low}, got {value}")
    return value


def _port(env: Mapping[str, str], name: str, default: int) -> int:
    value = _int(env, name, default, low=0)
    if value > 65535:
        raise ConfigError(f"{name}: {value} is not a TCP port")
    return value


def _dsn(env: Mapping[str, str], name: str, schemes: tuple[str, ...]) -> str | None:
    raw = env.get(name, "").strip()
    if not raw:
        return None
    scheme = urlsplit(raw).scheme
    if scheme not in schemes:
        raise ConfigError(f"{name}: scheme must be one of {', '.join(schemes)}, got {scheme!r}")
    return raw


def _url(env: Mapping[str, str], name: str, default: str) -> str:
    raw = env.get(name, "").strip() or default
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"{name}: expected an http(s) URL, got {raw!r}")
    return raw.rstrip("/")
