"""Redis key names of the waiting room (DESIGN section 2).

Every key of one room carries the hash tag ``{room}``, so a room lives in one Redis Cluster slot
and each Lua script touches one slot only. The keys without a room tag are global and are
never passed to a script together with room keys.
"""

from __future__ import annotations

from dataclasses import dataclass

PREFIX = "wr"

# Set of every configured room name (admin listing, background admission timer).
ROOMS = f"{PREFIX}:rooms"
# A random id written once per Redis dataset: when it vanishes or changes, Redis lost its data
# (FLUSHALL, restart without persistence) and processes restore rooms from their snapshots.
EPOCH = f"{PREFIX}:epoch"
# List of the operators' changes, newest first, capped (fairgate.audit.REDIS_CAP entries).
AUDIT = f"{PREFIX}:audit"


@dataclass(frozen=True, slots=True)
class RoomKeys:
    """All key names of one room, in one hash slot."""

    room: str

    def _key(self, name: str) -> str:
        return f"{PREFIX}:{{{self.room}}}:{name}"

    @property
    def config(self) -> str:  # hash: the room's live settings
        return self._key("config")

    @property
    def issued(self) -> str:  # counter: last ticket number handed out
        return self._key("issued")

    @property
    def queue(self) -> str:  # zset: waiting visitors, score = number
        return self._key("queue")

    @property
    def serving(self) -> str:  # counter: highest number called so far
        return self._key("serving")

    @property
    def active(self) -> str:  # zset: admitted visitors, score = session expiry (unix s)
        return self._key("active")

    @property
    def seen(self) -> str:  # zset: last poll time of each waiting visitor
        return self._key("seen")

    @property
    def lapsed(self) -> str:  # zset: skipped for not polling, score = number
        return self._key("lapsed")

    @property
    def left(self) -> str:  # zset: gave up their place, score = number (trimmed below serving)
        return self._key("left")

    @property
    def prequeue(self) -> str:  # zset: arrivals before opens_at, score = arrival order
        return self._key("prequeue")

    @property
    def preseq(self) -> str:  # counter: arrival order in the pre-queue
        return self._key("preseq")

    @property
    def prenum(self) -> str:  # hash: pre-queue visitor -> number drawn at opening
        return self._key("prenum")

    @property
    def bucket(self) -> str:  # hash: token bucket (credit, ts, since) and measured rate
        return self._key("bucket")

    @property
    def admlog(self) -> str:  # zset: one entry per admitting tick, score = time
        return self._key("admlog")

    @property
    def recent(self) -> str:  # zset: standby mode's admissions of the last minute, score = time
        return self._key("recent")

    @property
    def tick_lock(self) -> str:  # string with PX: at most one admission tick per debounce
        return self._key("tick")

    def pow_used(self, nonce: str) -> str:  # string with EX: a spent proof-of-work challenge
        return self._key(f"pow:{nonce}")

    def all(self) -> tuple[str, ...]:
        """Every key of the room, for deleting it."""
        return (
            self.config, self.issued, self.queue, self.serving, self.active, self.seen,
            self.lapsed, self.left, self.prequeue, self.preseq, self.prenum, self.bucket,
            self.admlog, self.tick_lock, self.recent,
        )
