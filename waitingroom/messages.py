"""Every user-facing string of the waiting room, in English and Korean."""

from __future__ import annotations

import math

from fairgate.i18n import Catalog

STRINGS = Catalog({
    "title": {"en": "Waiting room", "ko": "대기실"},
    "heading": {"en": "You're in line", "ko": "대기 중입니다"},
    # Before a scheduled opening nobody is in line yet: numbers are drawn at the opening.
    "heading_early": {"en": "You're early", "ko": "일찍 오셨습니다"},
    "lead": {
        "en": "When it's your turn, this page takes you in by itself.",
        "ko": "차례가 되면 이 페이지가 자동으로 입장시켜 드립니다.",
    },
    "your_number": {"en": "Your number", "ko": "내 번호"},
    "now_serving": {"en": "Now serving", "ko": "현재 입장 번호"},
    "ahead": {"en": "Ahead of you", "ko": "내 앞 대기"},
    "people": {"en": "{n} people", "ko": "{n}명"},
    "person": {"en": "1 person", "ko": "1명"},
    "next": {"en": "You're next", "ko": "다음 차례"},
    "eta": {"en": "Estimated wait", "ko": "예상 대기 시간"},
    "eta_soon": {"en": "under a minute", "ko": "1분 이내"},
    "eta_min": {"en": "about {n} min", "ko": "약 {n}분"},
    "eta_hour": {"en": "about {h} h {m} min", "ko": "약 {h}시간 {m}분"},
    "eta_none": {"en": "on hold", "ko": "대기 중"},
    # The range an estimate comes with (eta.py), in whole minutes or hours.
    "eta_range_min": {"en": "likely {lo}–{hi} min", "ko": "대략 {lo}~{hi}분"},
    "eta_range_hour": {"en": "likely {lo}–{hi} h", "ko": "대략 {lo}~{hi}시간"},
    "eta_range_soon": {"en": "likely within {hi} min", "ko": "대략 {hi}분 이내"},
    "draw": {"en": "Random draw", "ko": "무작위 추첨"},
    "draw_note": {
        "en": "This room admits by lottery: everyone waiting has the same chance at each call.",
        "ko": "이 대기실은 추첨으로 입장합니다. 매번 대기 중인 모든 분이 같은 확률로 뽑힙니다.",
    },
    "rate": {"en": "Admission rate", "ko": "입장 속도"},
    "per_minute": {"en": "{n} / min", "ko": "분당 {n}명"},
    "progress": {"en": "Your progress through the line", "ko": "대기열 진행률"},
    "keep_place": {
        "en": "Refreshing or closing this page keeps your place.",
        "ko": "새로고침하거나 창을 닫아도 순서는 그대로 유지됩니다.",
    },
    "keep_open": {
        "en": "Keep this page open: if it stops checking in for a while, your turn may be "
              "skipped until you come back.",
        "ko": "이 페이지를 열어 두세요. 한동안 응답이 없으면 돌아올 때까지 차례가 뒤로 밀릴 수 "
              "있습니다.",
    },
    "reconnecting": {
        "en": "Reconnecting… your place is kept.",
        "ko": "다시 연결하는 중… 순서는 그대로 유지됩니다.",
    },
    "admitted_title": {"en": "It's your turn!", "ko": "입장 차례입니다!"},
    "admitted_body": {"en": "Taking you in now…", "ko": "지금 입장합니다…"},
    "continue": {"en": "Continue", "ko": "입장하기"},
    "paused": {
        "en": "Admission is paused for a moment. You keep your place.",
        "ko": "입장이 잠시 멈췄습니다. 순서는 그대로 유지됩니다.",
    },
    "closed": {"en": "This sale is closed.", "ko": "판매가 종료되었습니다."},
    "closed_body": {
        "en": "This waiting room no longer lets anyone in.",
        "ko": "이 대기실은 더 이상 입장을 받지 않습니다.",
    },
    "opens_in": {"en": "The sale opens in", "ko": "판매 시작까지"},
    "prequeue_note": {
        "en": "Everyone who arrives before the start receives a number in random order at "
              "opening, so there is no need to hurry.",
        "ko": "시작 전에 오신 모든 분께 오픈 순간 무작위 순서로 번호를 드립니다. 서두르지 "
              "않으셔도 됩니다.",
    },
    "drawing": {"en": "Drawing numbers…", "ko": "번호를 배정하는 중…"},
    "not_found": {
        "en": "There is no waiting room at this address.",
        "ko": "이 주소에는 대기실이 없습니다.",
    },
    "not_found_body": {
        "en": "Check the link you were given.", "ko": "받으신 링크를 다시 확인해 주세요.",
    },
    # Also seen by a newcomer, who has no place yet: the body says who keeps one.
    "unavailable": {"en": "The queue is reconnecting.", "ko": "대기열에 다시 연결하는 중입니다."},
    "unavailable_body": {
        "en": "This page tries again by itself every few seconds. If you already had a number, "
              "you keep it.",
        "ko": "이 페이지가 몇 초마다 스스로 다시 시도합니다. 이미 번호를 받으셨다면 그 번호는 "
              "그대로 유지됩니다.",
    },
    "retrying": {"en": "Trying again…", "ko": "다시 시도하는 중…"},
    "turn_passed": {
        "en": "Your turn has passed. Reload the page to take a new number.",
        "ko": "차례가 지났습니다. 새 번호를 받으려면 페이지를 새로고침하세요.",
    },
    "bad_room": {"en": "This is not a valid room address.", "ko": "올바른 대기실 주소가 아닙니다."},
    "bad_room_body": {
        "en": "Check the link you were given.", "ko": "받으신 링크를 다시 확인해 주세요.",
    },
    "sold_out": {"en": "Sold out for now", "ko": "지금은 매진되었습니다"},
    "sold_out_body": {
        "en": "This sale is not taking new visitors at the moment. Please come back later.",
        "ko": "현재 새로운 방문자를 받지 않습니다. 나중에 다시 방문해 주세요.",
    },
    "last_update": {"en": "Updated", "ko": "업데이트"},
})

# Strings the queue page's script needs (handed over in a data attribute).
JS_KEYS = (
    "heading", "heading_early", "people", "person", "next", "eta_soon", "eta_min", "eta_hour",
    "eta_none", "per_minute", "reconnecting", "admitted_title", "paused", "closed", "drawing",
    "turn_passed", "eta_range_min", "eta_range_hour", "eta_range_soon", "draw",
)


def format_wait(seconds: float | None, t: dict[str, str]) -> str:
    """A wait in words, rounded up to whole minutes (the same rules as queue.js)."""
    if seconds is None:
        return t["eta_none"]
    if seconds < 60:
        return t["eta_soon"]
    minutes = math.ceil(seconds / 60)
    if minutes < 60:
        return t["eta_min"].format(n=minutes)
    return t["eta_hour"].format(h=minutes // 60, m=minutes % 60)


def format_range(span: list[int] | None, t: dict[str, str]) -> str:
    """An estimate's range in words (the same rules as queue.js); empty under a minute."""
    if not span or span[1] < 60:
        return ""
    low, high = span
    hi_min = math.ceil(high / 60)
    if hi_min >= 120:
        return t["eta_range_hour"].format(lo=low // 3600, hi=math.ceil(high / 3600))
    lo_min = low // 60
    if lo_min == 0:
        return t["eta_range_soon"].format(hi=hi_min)
    return t["eta_range_min"].format(lo=lo_min, hi=hi_min)


def format_people(ahead: int, t: dict[str, str]) -> str:
    if ahead == 0:
        return t["next"]
    if ahead == 1:
        return t["person"]
    return t["people"].format(n=f"{ahead:,}")

