-- Holds now take the per-(event, visitor) lock as a transaction-scoped advisory lock
-- (queries.LOCK_BUYER), which writes nothing. The buyers table is no longer written; it stays
-- so that processes of the previous version keep working during a rolling upgrade.
COMMENT ON TABLE buyers IS 'unused since migration 003 (the buyer lock is an advisory lock)';
