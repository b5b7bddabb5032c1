"""Named SQL of the ticketing app, readable as SQL.

Lock order, the same in every write path so no two transactions wait on each other in a circle:
the buyer lock, then the hold or booking row, then seat rows in ascending id order.

Each round trip to PostgreSQL costs the app a context switch, so the hot paths (hold, confirm)
do their reads under lock in one statement and their writes in another; the comments say which
statement boundaries are needed for correctness and must not be merged away.
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

ANALYZE_SEATS = "ANALYZE (SKIP_LOCKED) seats"

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
# Opens every write transaction: BEGIN and its lock timeout in one simple-query round trip.
# SET LOCAL ends with the transaction, so nothing leaks into the next user of the connection
# (and it works behind PgBouncer in transaction mode). Formatted with an int, never user input.
# Every write transaction uses each statement's generic plan, kept by its connection. Left to
# choose (plan_cache_mode = auto), PostgreSQL planned PLACE_HOLD anew on every call: its
# estimate for "id = ANY($n)" (10 rows) prices the generic plan above a custom one for 1-4
# seats, and planning its CTEs cost more than running them. Statistics stay fresh where it
# matters: creating an event analyzes the seats table (events.refresh_seat_statistics).
BEGIN_WRITE = ("BEGIN; SET LOCAL lock_timeout = '{lock_timeout_ms:d}ms'; "
               "SET LOCAL plan_cache_mode = force_generic_plan")

# Appended to BEGIN_WRITE by a hold: the lock of one buyer in one event (a transaction-scoped
# advisory lock on a 64-bit hash of both, holds.buyer_lock_key), taken before any seat lock and
# under the same lock_timeout. It is a statement of its own, so the next statement's snapshot
# starts after the lock was granted. Formatted with an int, never user input.
LOCK_BUYER = "; SELECT pg_advisory_xact_lock({key:d})"

# A look before the hold's transaction, without taking any lock: the first answer to this
# Idempotency-Key, which requested ids name seats of which event, and which seats are taken (sold,
# or held by a live hold). Seat and hold rows come from one snapshot, so a seat's hold is always
# visible with it. When seats are already gone (a crowd on a few hot seats) the answer is 409 at
# once, as true at that snapshot as it would be under the lock, and nobody queues on the seat
# locks; only requests that may succeed go on to LOCK_BUYER and LOCK_SEATS_FOR_HOLD, which
# decide again under the locks. Taken only when a seat notice said one of the seats was held or
# sold (stream.KnownSeats); otherwise it would be a round trip that finds nothing.
PEEK_HOLD = """
WITH answer AS (
    SELECT fingerprint, status, body::text AS body FROM idempotency_keys
    WHERE event_id = $1 AND visitor = $2 AND key = $3
), seat AS (
    SELECT s.id, s.event_id,
           s.status = 'sold' OR (s.status = 'held' AND h.expires_at > now()) AS taken
    FROM seats s LEFT JOIN holds h ON h.id = s.hold_id
    WHERE s.id = ANY($4::bigint[])
)
SELECT (SELECT fingerprint FROM answer) AS answer_fingerprint,
       (SELECT status FROM answer) AS answer_status,
       (SELECT body FROM answer) AS answer_body,
       (SELECT array_agg(id ORDER BY id) FROM seat) AS ids,
       (SELECT array_agg(event_id ORDER BY id) FROM seat) AS event_ids,
       (SELECT array_agg(id ORDER BY id) FROM seat WHERE taken) AS taken_ids
"""

# Everything a hold decides on, read in one statement that runs after LOCK_BUYER returned (so
# its snapshot sees every earlier request of this visitor, all of which ran under that lock):
# * the first answer to this Idempotency-Key, if any; a retry then locks no seat at all;
# * the seat rows, locked in ascending id order (no deadlocks), under the lock_timeout. FOR UPDATE
#   returns each row's latest committed version, whatever the snapshot;
# * the seats the visitor already owns (live holds and purchases), for the limit. Only requests
#   under the buyer lock add to it, so this snapshot can overcount, never undercount;
# * the transaction's now(), from which the hold's expiry is computed.
# Whether a *held* seat's hold is still live is asked afterwards (LIVE_HOLDS): that hold may have
# been created by a transaction that committed after this statement's snapshot.
LOCK_SEATS_FOR_HOLD = """
WITH answer AS (
    SELECT fingerprint, status, body::text AS body FROM idempotency_keys
    WHERE event_id = $1 AND visitor = $2 AND key = $3
), locked AS (
    SELECT id, event_id, status, hold_id FROM seats
    WHERE id = ANY($4::bigint[]) AND NOT EXISTS (SELECT FROM answer)
    ORDER BY id
    FOR UPDATE
)
SELECT now() AS now,
       (SELECT fingerprint FROM answer) AS answer_fingerprint,
       (SELECT status FROM answer) AS answer_status,
       (SELECT body FROM answer) AS answer_body,
       (SELECT array_agg(id ORDER BY id) FROM locked) AS ids,
       (SELECT array_agg(event_id ORDER BY id) FROM locked) AS event_ids,
       (SELECT array_agg(status ORDER BY id) FROM locked) AS statuses,
       (SELECT array_agg(hold_id ORDER BY id) FROM locked) AS hold_ids,
       (SELECT count(*) FROM seats s
        LEFT JOIN holds h ON h.id = s.hold_id
        WHERE s.event_id = $1 AND s.visitor = $2
          AND (s.status = 'sold' OR (s.status = 'held' AND h.expires_at > now()))) AS owned
"""

LIVE_HOLDS = """
SELECT id FROM holds WHERE id = ANY($1::bigint[]) AND expires_at > now()
"""

# All writes of a granted hold, on seats this transaction has locked: the hold, the seats, the
# idempotent answer (the body given here plus the new hold_id) and the seat-change notice,
# delivered on commit. A hold has at most 50 seats, far under one notice's size limit
# (stream.SEATS_PER_NOTICE); the payload is stream.notices' format.
PLACE_HOLD = """
WITH hold AS (
    INSERT INTO holds (event_id, visitor, seat_ids, expires_at)
    VALUES ($1, $2, $3::bigint[], $4)
    RETURNING id
), changed AS (
    UPDATE seats SET status = 'held', hold_id = (SELECT id FROM hold), booking_id = NULL,
                     visitor = $2, version = nextval('seat_version_seq')
    WHERE id = ANY($3::bigint[])
    RETURNING id, status, version
), answer AS (
    INSERT INTO idempotency_keys (event_id, visitor, key, fingerprint, status, body)
    SELECT $1, $2, $5, $6, 201, jsonb_build_object('hold_id', hold.id) || $7::jsonb
    FROM hold WHERE $5::text IS NOT NULL
)
SELECT hold.id,
       (SELECT pg_notify($8, json_build_object(
            'e', $1::bigint,
            's', json_agg(json_build_array(c.id, c.status, c.version) ORDER BY c.id))::text)
        FROM changed c) IS NULL AS notified
FROM hold
"""

LOCK_HOLD = """
SELECT h.id, h.event_id, h.visitor, h.status, h.seat_ids, h.expires_at,
       h.expires_at <= now() AS expired, e.room
FROM holds h JOIN events e ON e.id = h.event_id
WHERE h.id = $1
FOR UPDATE OF h
"""

# Confirm's reads under lock, in lock order: the hold row, then (only for the caller's own live
# hold) its seats in ascending id order. The seats are found through the hold's post-lock row,
# and FOR UPDATE re-checks each seat's latest version, so a seat the sweeper freed meanwhile is
# not returned. The booking id answers a repeated confirm; it may be missing when this statement
# waited for the confirm that created it (then BOOKING_OF_HOLD asks again).
LOCK_HOLD_FOR_CONFIRM = """
WITH hold AS (
    SELECT h.id, h.event_id, h.visitor, h.status, h.seat_ids, h.expires_at,
           h.expires_at <= now() AS expired, e.room
    FROM holds h JOIN events e ON e.id = h.event_id
    WHERE h.id = $1
    FOR UPDATE OF h
), locked AS (
    SELECT s.id, s.price FROM seats s
    WHERE s.hold_id = (SELECT id FROM hold
                       WHERE visitor = $2 AND room = $3 AND status = 'active' AND NOT expired)
      AND s.status = 'held'
    ORDER BY s.id
    FOR UPDATE OF s
)
SELECT hold.*,
       (SELECT b.id FROM bookings b WHERE b.hold_id = hold.id) AS booking_id,
       (SELECT array_agg(id ORDER BY id) FROM locked) AS locked_ids,
       (SELECT coalesce(sum(price), 0)::bigint FROM locked) AS total
FROM hold
"""

# All writes of a confirm, on the hold and seats locked above, with the seat-change notice;
# it names the buyer too ("b", a key older processes ignore), for the processes' sold-seat
# shortcut (stream.KnownSeats).
CONFIRM_HOLD = """
WITH booking AS (
    INSERT INTO bookings (event_id, visitor, hold_id, total) VALUES ($1, $2, $3, $4)
    RETURNING id
), sold AS (
    UPDATE seats SET status = 'sold', hold_id = NULL, booking_id = (SELECT id FROM booking),
                     version = nextval('seat_version_seq')
    WHERE id = ANY($5::bigint[])
    RETURNING id, status, version, price
), booked AS (
    INSERT INTO booking_seats (booking_id, seat_id, price)
    SELECT (SELECT id FROM booking), id, price FROM sold
), confirmed AS (
    UPDATE holds SET status = 'confirmed' WHERE id = $3
)
SELECT booking.id,
       (SELECT pg_notify($6, json_build_object(
            'e', $1::bigint,
            's', json_agg(json_build_array(c.id, c.status, c.version) ORDER BY c.id),
            'b', $2::text)::text)
        FROM sold c) IS NULL AS notified
FROM booking
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
