"""Language choice from ``Accept-Language`` and per-app string tables (English and Korean)."""

from __future__ import annotations

from collections.abc import Mapping

LANGUAGES = ("en", "ko")
DEFAULT_LANGUAGE = "en"


def pick_language(header: str) -> str:
    """The best supported language for an ``Accept-Language`` header (q-values honoured)."""
    best, best_q = DEFAULT_LANGUAGE, -1.0
    for position, part in enumerate(header.split(",")[:20]):
        tag, _, params = part.strip().partition(";")
        primary = tag.strip().lower().split("-")[0]
        if primary not in LANGUAGES:
            continue
        q = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        # Ties keep the earlier tag, as the header lists preferences in order.
        if q > best_q or (q == best_q and position == 0):
            best, best_q = primary, q
    return best if best_q > 0 else DEFAULT_LANGUAGE


class Catalog:
    """A table of user-facing strings: ``{key: {"en": ..., "ko": ...}}``."""

    def __init__(self, table: Mapping[str, Mapping[str, str]]) -> None:
        missing = [k for k, v in table.items() if set(v) != set(LANGUAGES)]
        if missing:
            raise ValueError(f"strings missing a translation: {missing}")
        self._by_lang = {
            lang: {key: texts[lang] for key, texts in table.items()} for lang in LANGUAGES
        }

    def strings(self, lang: str) -> dict[str, str]:
        return self._by_lang.get(lang, self._by_lang[DEFAULT_LANGUAGE])
