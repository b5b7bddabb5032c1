-- The operators' audit log (fairgate.audit): who changed what, when, from which value to which.
-- The actor is a name ("admin" or an operator of ADMIN_OPERATORS), never a token.

CREATE TABLE admin_audit (
    id      bigserial PRIMARY KEY,
    at      timestamptz NOT NULL DEFAULT now(),
    actor   text NOT NULL CHECK (length(actor) BETWEEN 1 AND 64),
    action  text NOT NULL CHECK (length(action) BETWEEN 1 AND 64),
    target  text NOT NULL CHECK (length(target) BETWEEN 1 AND 200),
    old     jsonb,
    new     jsonb
);

-- The log is read newest first.
CREATE INDEX admin_audit_at ON admin_audit (at DESC, id DESC);
