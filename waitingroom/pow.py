"""Optional proof of work at join (room setting ``pow_difficulty``, 0 = off).

A join that would hand out a new number must bring the solution of a fresh challenge: a
counter such that SHA-256 of ``"<challenge>:<counter>"`` starts with ``pow_difficulty`` zero
bits (hashcash). The challenge is signed (no storage until it is spent), bound to the room,
short-lived, and spent once (a key with a TTL), so a script pays for every extra ticket while a
browser pays once. Visitors who already hold a valid ticket never solve anything.
"""

from __future__ import annotations

import functools
import hashlib
import secrets
from typing import Any

from aiohttp import web
from itsdangerous import BadData

from fairgate.i18n import Catalog
from fairgate.redisconn import RedisClient
from fairgate.tokens import TokenSerializer
from fairgate.web import SETTINGS_KEY, ApiError, render

from . import keys
from .appkeys import QUEUE_KEY
from .errors import RedisUnavailable, TurnPassed
from .queue import Visit
from .storage import REDIS_DOWN

ALGORITHM = "sha256-leading-zero-bits"
# Long enough to solve on a slow phone at the highest difficulty, short enough that solutions
# cannot be stockpiled before a sale.
CHALLENGE_MAX_AGE_S = 300
# A counter is a decimal number: 20 digits cover every 64-bit value.
MAX_SOLUTION_LEN = 20


class PowRequired(ApiError):
    """428: the join must bring a solved challenge; the answer carries a fresh one."""

    status, code = 428, "pow_required"
    message = "Solve the proof-of-work challenge, then join again."


def leading_zero_bits(digest: bytes) -> int:
    bits = 0
    for byte in digest:
        if byte:
            return bits + 8 - byte.bit_length()
        bits += 8
    return bits


def work_bits(challenge: str, solution: str) -> int:
    return leading_zero_bits(hashlib.sha256(f"{challenge}:{solution}".encode()).digest())


def solve(challenge: str, difficulty: int) -> str:
    """The first counter that solves ``challenge`` (what the queue page does, in Python)."""
    counter = 0
    while work_bits(challenge, str(counter)) < difficulty:
        counter += 1
    return str(counter)


class ProofOfWork:
    """Issues and checks challenges signed with the apps' secret keys."""

    def __init__(self, secret_keys: tuple[str, ...]) -> None:
        self._serializer = TokenSerializer(list(reversed(secret_keys)),
                                                  salt="fairgate.pow")

    def challenge(self, room: str, difficulty: int) -> dict[str, Any]:
        token = self._serializer.dumps([room, secrets.token_hex(12), difficulty])
        return {"challenge": token, "difficulty": difficulty, "algorithm": ALGORITHM,
                "expires_in_s": CHALLENGE_MAX_AGE_S}

    def required(self, room: str, difficulty: int, message: str | None = None) -> PowRequired:
        return PowRequired(message, pow=self.challenge(room, difficulty))

    async def check(self, redis: RedisClient, room: str, difficulty: int, proof: Any) -> None:
        """Accept a solved, unspent challenge of this room; else 428 with a new challenge."""
        if not isinstance(proof, dict):
            raise self.required(room, difficulty)
        challenge, solution = proof.get("challenge"), proof.get("solution")
        if not (isinstance(challenge, str) and isinstance(solution, str)
                and 0 < len(challenge) <= 512 and 0 < len(solution) <= MAX_SOLUTION_LEN
                and solution.isascii() and solution.isdigit()):
            raise self.required(room, difficulty, "The proof of work is malformed.")
        try:
            bound_room, nonce, issued_difficulty = self._serializer.loads(
                challenge, max_age=CHALLENGE_MAX_AGE_S)
        except (BadData, ValueError, TypeError):
            raise self.required(room, difficulty, "The challenge is unknown or too old.") from None
        if bound_room != room or not isinstance(issued_difficulty, int) \
                or issued_difficulty < difficulty:
            raise self.required(room, difficulty, "The challenge is for another room or level.")
        if work_bits(challenge, solution) < issued_difficulty:
            raise self.required(room, difficulty, "The proof of work does not solve the challenge.")
        try:
            fresh = await redis.set(keys.RoomKeys(room).pow_used(str(nonce)), "1", nx=True,
                                    ex=CHALLENGE_MAX_AGE_S)
        except REDIS_DOWN:
            raise RedisUnavailable() from None
        if not fresh:
            raise self.required(room, difficulty, "This challenge was already used.")


@functools.lru_cache(maxsize=4)
def for_keys(secret_keys: tuple[str, ...]) -> ProofOfWork:
    """One instance per key list (the app's settings are fixed for its lifetime)."""
    return ProofOfWork(secret_keys)


async def join(app: web.Application, room: str, raw_ticket: str | None, proof: Any) -> Visit:
    """Join, paying the room's work where a new number is at stake.

    A visitor whose ticket still holds a place comes back without work; a fresh number costs
    a solved, unspent challenge, also when it is asked for with a finished ticket (otherwise
    one solve, then leave and re-join, would buy any number of tickets). Raises
    :class:`PowRequired` with a new challenge when work is due.
    """
    queue = app[QUEUE_KEY]
    snap = await queue.snapshots.get(room)
    difficulty = snap.config.pow_difficulty
    if difficulty <= 0:
        return await queue.join(room, raw_ticket)
    work = for_keys(app[SETTINGS_KEY].secret_keys)
    if proof or queue.read_ticket(room, raw_ticket, snap) is None:
        await work.check(queue.redis, room, difficulty, proof)
        return await queue.join(room, raw_ticket)
    try:
        return await queue.join(room, raw_ticket, allow_fresh=False)
    except TurnPassed:
        raise work.required(room, difficulty) from None


PAGE_STRINGS = Catalog({
    "title": {"en": "Waiting room", "ko": "대기실"},
    "heading": {"en": "Getting your number…", "ko": "번호를 받는 중…"},
    "lead": {
        "en": "Your browser is doing a short check so that scripts cannot crowd out people. "
              "It takes a few seconds; keep this page open.",
        "ko": "자동화 프로그램이 사람들의 자리를 빼앗지 못하도록 브라우저가 잠시 확인 중입니다. "
              "몇 초면 끝나니 이 페이지를 열어 두세요.",
    },
    "working": {"en": "Checking…", "ko": "확인 중…"},
    "nojs": {
        "en": "This waiting room needs JavaScript to hand out numbers: your browser does a "
              "short check first, so that scripts cannot crowd out people.",
        "ko": "이 대기실은 번호를 받으려면 JavaScript가 필요합니다. 자동화 프로그램이 사람들의 "
              "자리를 빼앗지 못하도록 브라우저가 먼저 잠시 확인합니다.",
    },
    "failed": {
        "en": "The check did not go through; retrying…",
        "ko": "확인이 완료되지 않았습니다. 다시 시도하는 중…",
    },
})


def page(request: web.Request, room: str, required: PowRequired) -> web.Response:
    """The queue page's first step when the room asks for work: the script solves and joins."""
    challenge = required.fields["pow"]
    response = render(request, "queue_pow.html", {
        "room": room,
        "challenge": challenge["challenge"],
        "difficulty": challenge["difficulty"],
        "join_url": str(request.app.router["join"].url_for(room=room)),
        "page_url": str(request.app.router["queue_page"].url_for(room=room)),
    }, catalog=PAGE_STRINGS)
    response.headers["Cache-Control"] = "no-store"
    return response
