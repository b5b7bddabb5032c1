"""Room names, one rule for both apps: the waiting room's rooms, and the room each ticketing
event is bound to (an event whose room the waiting room cannot have would admit nobody)."""

from __future__ import annotations

import re

# Lowercase letters, digits and dashes, not starting with a dash; the whole string (\Z, unlike
# $, does not match before a trailing newline).
ROOM_NAME = re.compile(r"\A[a-z0-9][a-z0-9-]{0,62}\Z")
