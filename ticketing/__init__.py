"""The ticketing app: sells seats only to visitors the waiting room admitted, under PostgreSQL
row locks, so no seat is ever sold twice (DESIGN section 4)."""
