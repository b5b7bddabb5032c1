-- Events, seats, holds and bookings. The invariants live here as constraints, so a bug in the
-- application cannot sell a seat twice: a seat's status matches the hold or booking it points at,
-- and a seat belongs to at most one live booking.

CREATE SEQUENCE seat_version_seq;

CREATE TABLE events (
    id                bigserial PRIMARY KEY,
    name              text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    -- The waiting-room room whose admission tokens open this event (one event per room).
    room              text NOT NULL UNIQUE CHECK (room ~ '^[A-Za-z0-9_-]{1,64}$'),
    per_visitor_limit integer NOT NULL CHECK (per_visitor_limit BETWEEN 1 AND 50),
    hold_ttl_s        integer NOT NULL CHECK (hold_ttl_s BETWEEN 1 AND 3600),
    currency          text NOT NULL DEFAULT 'USD' CHECK (currency ~ '^[A-Z]{3}$'),
    sale_starts_at    timestamptz,
    sale_ends_at      timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now(),
    CHECK (sale_starts_at IS NULL OR sale_ends_at IS NULL OR sale_starts_at < sale_ends_at)
);

CREATE TABLE holds (
    id         bigserial PRIMARY KEY,
    event_id   bigint NOT NULL REFERENCES events (id),
    visitor    text NOT NULL,
    seat_ids   bigint[] NOT NULL CHECK (cardinality(seat_ids) > 0),
    status     text NOT NULL DEFAULT 'active'
               CHECK (status IN ('active', 'confirmed', 'released', 'expired')),
    expires_at timestamptz NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX holds_active_expiry ON holds (expires_at) WHERE status = 'active';
CREATE INDEX holds_visitor ON holds (event_id, visitor);

CREATE TABLE bookings (
    id           bigserial PRIMARY KEY,
    event_id     bigint NOT NULL REFERENCES events (id),
    visitor      text NOT NULL,
    hold_id      bigint NOT NULL UNIQUE REFERENCES holds (id),
    status       text NOT NULL DEFAULT 'confirmed' CHECK (status IN ('confirmed', 'cancelled')),
    total        bigint NOT NULL CHECK (total >= 0),
    created_at   timestamptz NOT NULL DEFAULT now(),
    cancelled_at timestamptz,
    CHECK ((status = 'cancelled') = (cancelled_at IS NOT NULL))
);
CREATE INDEX bookings_visitor ON bookings (event_id, visitor);

CREATE TABLE seats (
    id         bigserial PRIMARY KEY,
    event_id   bigint NOT NULL REFERENCES events (id),
    section    text NOT NULL,
    row_label  text NOT NULL,
    number     integer NOT NULL CHECK (number > 0),
    label      text NOT NULL,
    price      bigint NOT NULL CHECK (price >= 0),
    status     text NOT NULL DEFAULT 'free' CHECK (status IN ('free', 'held', 'sold')),
    hold_id    bigint REFERENCES holds (id),
    booking_id bigint REFERENCES bookings (id),
    -- Who holds or bought the seat: the per-visitor limit counts these.
    visitor    text,
    -- Bumped from one sequence on every change: the seat map's version and ETag come from it.
    version    bigint NOT NULL DEFAULT nextval('seat_version_seq'),
    UNIQUE (event_id, section, row_label, number),
    CONSTRAINT seat_status_matches CHECK (
        (status = 'free' AND hold_id IS NULL AND booking_id IS NULL AND visitor IS NULL)
        OR (status = 'held' AND hold_id IS NOT NULL AND booking_id IS NULL AND visitor IS NOT NULL)
        OR (status = 'sold' AND hold_id IS NULL AND booking_id IS NOT NULL AND visitor IS NOT NULL)
    )
);
CREATE INDEX seats_event_version ON seats (event_id, version);
CREATE INDEX seats_held_by ON seats (hold_id) WHERE status = 'held';
CREATE INDEX seats_visitor ON seats (event_id, visitor) WHERE visitor IS NOT NULL;

CREATE TABLE booking_seats (
    booking_id bigint NOT NULL REFERENCES bookings (id),
    seat_id    bigint NOT NULL REFERENCES seats (id),
    price      bigint NOT NULL CHECK (price >= 0),
    live       boolean NOT NULL DEFAULT true,
    PRIMARY KEY (booking_id, seat_id)
);
-- The last line of defence against a double sale: one live booking per seat.
CREATE UNIQUE INDEX booking_seats_one_live ON booking_seats (seat_id) WHERE live;

-- The per-(event, visitor) lock: holds take this row lock before any seat lock, so parallel
-- requests of one visitor run one at a time and cannot exceed the limit together.
CREATE TABLE buyers (
    event_id   bigint NOT NULL REFERENCES events (id),
    visitor    text NOT NULL,
    touched_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (event_id, visitor)
);

-- Admission token ids already exchanged for a session; a token is accepted once.
CREATE TABLE used_tokens (
    token_id     text PRIMARY KEY,
    room         text NOT NULL,
    visitor      text NOT NULL,
    used_at      timestamptz NOT NULL DEFAULT now(),
    -- After this the token fails its own max_age check, so the row is no longer needed.
    forget_after timestamptz NOT NULL
);
CREATE INDEX used_tokens_forget ON used_tokens (forget_after);

-- The first answer to a hold request, returned again to a retry with the same key.
CREATE TABLE idempotency_keys (
    event_id    bigint NOT NULL REFERENCES events (id),
    visitor     text NOT NULL,
    key         text NOT NULL,
    fingerprint text NOT NULL,
    status      integer NOT NULL,
    body        jsonb NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (event_id, visitor, key)
);
CREATE INDEX idempotency_keys_age ON idempotency_keys (created_at);
