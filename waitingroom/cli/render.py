"""Readable terminal output of the operator CLI: aligned tables and a live room view."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

SPARKS = "▁▂▃▄▅▆▇█"
# Characters of an audit entry's change shown in a table row.
CHANGE_WIDTH = 100
# Points of history a watch keeps and draws (one per frame).
SPARK_WIDTH = 60


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]],
          right: Sequence[int] = ()) -> str:
    """Columns padded to their widest cell; the columns in ``right`` are right-aligned."""
    cells = [[str(h) for h in headers]] + [["-" if c is None else str(c) for c in r]
                                           for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]

    def line(row: list[str]) -> str:
        return "  ".join(c.rjust(w) if i in right else c.ljust(w)
                         for i, (c, w) in enumerate(zip(row, widths, strict=True))).rstrip()

    out = [line(cells[0]), "  ".join("-" * w for w in widths)]
    out += [line(r) for r in cells[1:]]
    return "\n".join(out)


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "never (paused)"
    s = round(seconds)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {(s % 3600) // 60:02d} min"


def number(value: float | None) -> str:
    return "-" if value is None else f"{round(value):,}"


def sparkline(values: Sequence[float | None], width: int = SPARK_WIDTH) -> str:
    points = list(values[-width:])
    known = [v for v in points if v is not None]
    if not known:
        return ""
    top = max(known) or 1
    return "".join(" " if v is None else SPARKS[min(len(SPARKS) - 1,
                                                    int(v / top * (len(SPARKS) - 1)))]
                   for v in points)


def rooms_table(rooms: list[dict[str, Any]]) -> str:
    if not rooms:
        return "no rooms"
    return table(
        ["ROOM", "STATE", "RATE/MIN", "MAX ACTIVE", "TTL", "TARGET", "OPENS"],
        [[r["room"], r["state"], number(r["admit_per_minute"]), number(r["max_active"]),
          f"{r['session_ttl']}s", r["target_url"], r.get("opens_at_iso") or ""]
         for r in rooms],
        right=(2, 3, 4),
    )


def room_details(room: dict[str, Any]) -> str:
    skip = {"room", "stats", "opens_at", "created_at"}
    settings = [[k, "-" if v is None else v] for k, v in room.items() if k not in skip]
    out = [f"room {room['room']}", table(["SETTING", "VALUE"], settings)]
    figures = room.get("stats")
    if figures:
        out += ["", figures_table(figures)]
    return "\n".join(out)


def figures_table(f: dict[str, Any]) -> str:
    rows = [
        ["waiting", number(f.get("queue_length"))],
        ["before opening", number(f.get("prequeue_length"))],
        ["serving / issued", f"{number(f.get('serving'))} / {number(f.get('issued'))}"],
        ["active / max", f"{number(f.get('active'))} / {number(f.get('max_active'))}"],
        ["admitted per minute", f"{number(f.get('admitted_per_minute'))} "
                                f"(knob {number(f.get('admit_per_minute'))})"],
        ["last in line waits", duration(f.get("last_wait_s"))],
        ["polling visitors", number(f.get("polling_visitors"))],
        ["lapsed", number(f.get("lapsed"))],
    ]
    return table(["FIGURE", "VALUE"], rows, right=(1,))


def watch_frame(room: str, cfg: dict[str, Any], f: dict[str, Any],
                history: dict[str, list[float | None]], at: str) -> str:
    return "\n".join([
        f"{room}  [{cfg['state']}]  {at}   (Ctrl-C to stop)",
        "",
        figures_table(f),
        "",
        f"queue     {sparkline(history['queue'])}",
        f"admitted  {sparkline(history['measured'])}",
        f"active    {sparkline(history['active'])}",
    ])


def audit_table(entries: list[dict[str, Any]]) -> str:
    if not entries:
        return "no changes recorded"

    def change(e: dict[str, Any]) -> str:
        old, new = e.get("old") or {}, e.get("new") or {}
        if not isinstance(old, dict) or not isinstance(new, dict):
            return f"{old} -> {new}"
        if not old or not new:  # a creation or a deletion: the settings themselves
            text = ", ".join(f"{k}={v}" for k, v in (new or old).items())
            text = ("deleted: " if not new else "") + text
        else:
            keys = list(dict.fromkeys([*new, *old]))
            text = ", ".join(f"{k}: {old.get(k, '-')} -> {new.get(k, '-')}" for k in keys)
        # A terminal line, not a document: --json has the whole entry.
        return text if len(text) <= CHANGE_WIDTH else text[:CHANGE_WIDTH - 1] + "…"

    return table(["WHEN", "WHO", "ACTION", "TARGET", "CHANGE"],
                 [[e["at"], e["actor"], e["action"], e["target"], change(e)] for e in entries])


def report_table(r: dict[str, Any]) -> str:
    event, seats = r["event"], r["seats"]
    rows = [
        ["seats", number(seats["total"])],
        ["free", number(seats["free"])],
        ["held", number(seats["held"])],
        ["sold", number(seats["sold"])],
        ["bookings confirmed", number(r["bookings"]["confirmed"])],
        ["bookings cancelled", number(r["bookings"]["cancelled"])],
        ["booked seats", number(r["booked_seats"])],
        ["revenue (minor units)", f"{number(r['revenue'])} {event.get('currency', '')}".strip()],
        ["consistent", "yes" if r["consistent"] else "NO: sold seats differ from bookings"],
    ]
    return "\n".join([f"event {event['id']}: {event['name']} (room {event['room']})",
                      table(["FIGURE", "VALUE"], rows, right=(1,))])
