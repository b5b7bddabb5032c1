"""Named SQL of the ticketing app, readable as SQL.

Lock order, the same in every write path so no two transactions wait on each other in a circle:
the buyer row, then the hold or booking row, then seat rows in ascending id order.
"""

from __future__ import annotations

# -- events ---------------------------------------------------------------------------------
INSERT_EVENT = """
INSERT INTO events (name, room, per_visitor_limit, hold_ttl_s, currency,
                    sale_starts_at, sale_ends_at)
VALUES ($1, $2, $3, $4, $5, $6, $7)
RETURNING id
"""

INSERT_SEATS = """
INSERT INTO seats (event_id, section, row_label, number, label, price)
SELECT $1, s.section, s.row_label, s.number, s.label, s.price
FROM unnest($2::text[], $3::text[], $4::int[], $5::text[], $6::bigint[])
     AS s(section, row_label, number, label, price)
"""

EVENT_COLUMNS = """
e.id, e.name, e.room, e.per_visitor_limit, e.hold_ttl_s, e.currency,
e.sale_starts_at, e.sale_ends_at, e.created_at
"""

EVENT_BY_ID = f"SELECT {EVENT_COLUMNS} FROM events e WHERE e.id = $1"
EVENT_BY_ROOM = f"SELECT {EVENT_COLUMNS} FROM events e WHERE e.room = $1"
LIST_EVENTS = f"""
SELECT {EVENT_COLUMNS}, (SELECT count(*) FROM seats s WHERE s.event_id = e.id) AS seat_count
FROM events e ORDER BY e.id
"""

# The seat map in one query. A seat held by an expired hold is shown free: it is free to take,
# whether or not the sweeper has got to it yet.
SEAT_MAP = """
SELECT s.id, s.section, s.row_label, s.number, s.label, s.price, s.version,
       CASE WHEN s.status = 'held' AND h.expires_at <= now() THEN 'free' ELSE s.status END
           AS status
FROM seats s
LEFT JOIN holds h ON h.id = s.hold_id
WHERE s.event_id = $1
ORDER BY s.id
"""

SEAT_CHANGES_SINCE = """
SELECT s.id, s.version,
       CASE WHEN s.status = 'held' AND h.expires_at <= now() THEN 'free' ELSE s.status END
           AS status
FROM seats s
LEFT JOIN holds h ON h.id = s.hold_id
WHERE s.event_id = $1 AND s.version > $2
ORDER BY s.id
"""

REPORT = """
SELECT
  (SELECT count(*) FROM seats s WHERE s.event_id = $1) AS total,
  (SELECT count(*) FROM seats s WHERE s.event_id = $1 AND s.status = 'free') AS free,
  (SELECT count(*) FROM seats s JOIN holds h ON h.id = s.hold_id
    WHERE s.event_id = $1 AND s.status = 'held' AND h.expires_at > now()) AS held,
  (SELECT count(*) FROM seats s JOIN holds h ON h.id = s.hold_id
    WHERE s.event_id = $1 AND s.status = 'held' AND h.expires_at <= now()) AS held_expired,
  (SELECT count(*) FROM seats s WHERE s.event_id = $1 AND s.status = 'sold') AS sold,
  (SELECT count(*) FROM bookings b WHERE b.event_id = $1 AND b.status = 'confirmed')
      AS bookings_confirmed,
  (SELECT count(*) FROM bookings b WHERE b.event_id = $1 AND b.status = 'cancelled')
      AS bookings_cancelled,
  (SELECT count(*) FROM booking_seats bs JOIN bookings b ON b.id = bs.booking_id
    WHERE b.event_id = $1 AND bs.live) AS booked_seats,
  (SELECT coalesce(sum(b.total), 0)::bigint FROM bookings b
    WHERE b.event_id = $1 AND b.status = 'confirmed') AS revenue,
  (SELECT count(*) FROM seats s
    LEFT JOIN booking_seats bs ON bs.seat_id = s.id AND bs.live
    WHERE s.event_id = $1 AND s.status = 'sold'
      AND (bs.booking_id IS DISTINCT FROM s.booking_id)) AS sold_mismatched
"""

# -- sessions -------------------------------------------------------------------------------
USE_TOKEN = """
INSERT INTO used_tokens (token_id, room, visitor, forget_after)
VALUES ($1, $2, $3, to_timestamp($4))
ON CONFLICT (token_id) DO NOTHING
RETURNING token_id
"""

# -- holds ----------------------------------------------------------------------------------
SET_LOCK_TIMEOUT = "SELECT set_config('lock_timeout', $1, true)"

# Row lock of one buyer in one event, created on first use (ON CONFLICT DO UPDATE locks it).
LOCK_BUYER = """
INSERT INTO buyers (event_id, visitor) VALUES ($1, $2)
ON CONFLICT (event_id, visitor) DO UPDATE SET touched_at = now()
"""

IDEMPOTENT_ANSWER = """
SELECT fingerprint, status, body::text AS body FROM idempotency_keys
WHERE event_id = $1 AND visitor = $2 AND key = $3
"""

SAVE_IDEMPOTENT_ANSWER = """
INSERT INTO idempotency_keys (event_id, visitor, key, fingerprint, status, body)
VALUES ($1, $2, $3, $4, $5, $6::jsonb)
"""

# Ascending id order: every transaction locks seats in the same order, so none deadlock.
LOCK_SEATS_FOR_HOLD = """
SELECT id, event_id, status, hold_id FROM seats
WHERE id = ANY($1::bigint[])
ORDER BY id
FOR UPDATE
"""

SEAT_EVENTS = "SELECT id, event_id FROM seats WHERE id = ANY($1::bigint[])"

LIVE_HOLDS = """
SELECT id FROM holds WHERE id = ANY($1::bigint[]) AND expires_at > now()
"""

# Seats this visitor holds (live holds only) or bought in this event: the limit counts them.
VISITOR_SEAT_COUNT = """
SELECT count(*) FROM seats s
LEFT JOIN holds h ON h.id = s.hold_id
WHERE s.event_id = $1 AND s.visitor = $2
  AND (s.status = 'sold' OR (s.status = 'held' AND h.expires_at > now()))
"""

INSERT_HOLD = """
INSERT INTO holds (event_id, visitor, seat_ids, expires_at)
VALUES ($1, $2, $3::bigint[], now() + make_interval(secs => $4))
RETURNING id, expires_at
"""

MARK_SEATS_HELD = """
UPDATE seats SET status = 'held', hold_id = $2, booking_id = NULL, visitor = $3,
                 version = nextval('seat_version_seq')
WHERE id = ANY($1::bigint[])
RETURNING id, status, version
"""

LOCK_HOLD = """
SELECT h.id, h.event_id, h.visitor, h.status, h.seat_ids, h.expires_at,
       h.expires_at <= now() AS expired, e.room
FROM holds h JOIN events e ON e.id = h.event_id
WHERE h.id = $1
FOR UPDATE OF h
"""

LOCK_SEATS_OF_HOLD = """
SELECT id, price FROM seats WHERE hold_id = $1 AND status = 'held' ORDER BY id FOR UPDATE
"""

INSERT_BOOKING = """
INSERT INTO bookings (event_id, visitor, hold_id, total) VALUES ($1, $2, $3, $4) RETURNING id
"""

INSERT_BOOKING_SEATS = """
INSERT INTO booking_seats (booking_id, seat_id, price)
SELECT $1, s.id, s.price FROM seats s WHERE s.id = ANY($2::bigint[])
"""

MARK_SEATS_SOLD = """
UPDATE seats SET status = 'sold', hold_id = NULL, booking_id = $2,
                 version = nextval('seat_version_seq')
WHERE id = ANY($1::bigint[])
RETURNING id, status, version
"""

SET_HOLD_STATUS = "UPDATE holds SET status = $2 WHERE id = $1"

BOOKING_OF_HOLD = "SELECT id FROM bookings WHERE hold_id = $1"

FREE_SEATS_OF_HOLD = """
UPDATE seats SET status = 'free', hold_id = NULL, visitor = NULL,
                 version = nextval('seat_version_seq')
WHERE id IN (SELECT id FROM seats WHERE hold_id = $1 AND status = 'held' ORDER BY id FOR UPDATE)
RETURNING id, status, version
"""

ACTIVE_HOLDS_OF_VISITOR = """
SELECT id FROM holds WHERE event_id = $1 AND visitor = $2 AND status = 'active' ORDER BY id
"""

# -- bookings -------------------------------------------------------------------------------
LIST_BOOKINGS = """
SELECT b.id, b.status, b.total, b.created_at, b.cancelled_at,
       coalesce(json_agg(json_build_object('id', s.id, 'label', s.label, 'price', bs.price)
                         ORDER BY s.id), '[]') AS seats
FROM bookings b
JOIN booking_seats bs ON bs.booking_id = b.id
JOIN seats s ON s.id = bs.seat_id
WHERE b.event_id = $1 AND b.visitor = $2
GROUP BY b.id
ORDER BY b.id
"""

LOCK_BOOKING = """
SELECT b.id, b.event_id, b.visitor, b.status, e.room
FROM bookings b JOIN events e ON e.id = b.event_id
WHERE b.id = $1
FOR UPDATE OF b
"""

FREE_SEATS_OF_BOOKING = """
UPDATE seats SET status = 'free', booking_id = NULL, visitor = NULL,
                 version = nextval('seat_version_seq')
WHERE id IN (SELECT id FROM seats WHERE booking_id = $1 AND status = 'sold'
             ORDER BY id FOR UPDATE)
RETURNING id, status, version
"""

END_BOOKING_SEATS = "UPDATE booking_seats SET live = false WHERE booking_id = $1 AND live"

CANCEL_BOOKING = """
UPDATE bookings SET status = 'cancelled', cancelled_at = now() WHERE id = $1
"""

# -- sweeper --------------------------------------------------------------------------------
# SKIP LOCKED: a seat a buyer is working on right now is left for the next round, so the
# sweeper never makes a buyer wait.
SWEEP_EXPIRED_SEATS = """
WITH victims AS (
    SELECT s.id FROM seats s JOIN holds h ON h.id = s.hold_id
    WHERE s.status = 'held' AND h.expires_at <= now()
    ORDER BY s.id
    LIMIT $1
    FOR UPDATE OF s SKIP LOCKED
)
UPDATE seats s SET status = 'free', hold_id = NULL, visitor = NULL,
                   version = nextval('seat_version_seq')
FROM victims v WHERE s.id = v.id
RETURNING s.event_id, s.id, s.status, s.version
"""

SWEEP_EXPIRED_HOLDS = """
UPDATE holds SET status = 'expired'
WHERE id IN (SELECT id FROM holds WHERE status = 'active' AND expires_at <= now()
             ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED)
"""

FORGET_USED_TOKENS = "DELETE FROM used_tokens WHERE forget_after < now()"

FORGET_IDEMPOTENCY_KEYS = """
DELETE FROM idempotency_keys WHERE created_at < now() - make_interval(secs => $1)
"""

NOTIFY = "SELECT pg_notify($1, $2)"
