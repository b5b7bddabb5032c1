# ruff: noqa: E501  (a string table reads better with one string per line)
"""Every user-facing string of the ticketing pages, in English and Korean."""

from __future__ import annotations

from fairgate.i18n import Catalog

STRINGS = {
    "title": {"en": "Choose your seats", "ko": "좌석 선택"},
    "stage": {"en": "Stage", "ko": "무대"},
    # Under the seat map while it is wider than the screen (seats.js shows it).
    "scroll_hint": {
        "en": "Swipe sideways to see every seat.",
        "ko": "옆으로 밀어서 모든 좌석을 확인하세요.",
    },
    "legend_free": {"en": "Available", "ko": "선택 가능"},
    "legend_selected": {"en": "Your pick", "ko": "내 선택"},
    "legend_held": {"en": "On hold", "ko": "다른 사람이 선택 중"},
    "legend_mine": {"en": "Held for you", "ko": "나에게 홀드됨"},
    "legend_sold": {"en": "Sold", "ko": "판매 완료"},
    "limit_note": {"en": "Up to {limit} seats per person.", "ko": "1인당 최대 {limit}석까지 구매할 수 있습니다."},
    "selected": {"en": "{n} of {limit} selected", "ko": "{limit}석 중 {n}석 선택"},
    "total": {"en": "Total", "ko": "합계"},
    "hold": {"en": "Hold these seats", "ko": "좌석 홀드"},
    "holding": {"en": "Holding…", "ko": "홀드하는 중…"},
    "clear_selection": {"en": "Clear", "ko": "선택 해제"},
    "held_for": {"en": "Held for you for", "ko": "홀드 남은 시간"},
    "confirm": {"en": "Buy now", "ko": "지금 구매"},
    "release": {"en": "Release", "ko": "홀드 취소"},
    "booked": {"en": "Booked! Your booking number is {id}.", "ko": "예매 완료! 예매 번호는 {id}입니다."},
    "taken": {"en": "Sorry, {seats} was taken a moment ago. Please pick another seat.",
              "ko": "죄송합니다. {seats} 좌석이 방금 다른 사람에게 선택되었습니다. 다른 좌석을 골라 주세요."},
    "expired": {"en": "Your hold expired and the seats were released. Please choose again.",
                "ko": "홀드 시간이 끝나 좌석이 해제되었습니다. 다시 선택해 주세요."},
    "limit": {"en": "You can have at most {limit} seats.", "ko": "최대 {limit}석까지만 가질 수 있습니다."},
    "busy": {"en": "Many people are buying right now. Please try again in a moment.",
             "ko": "지금 많은 분이 구매하고 있습니다. 잠시 후 다시 시도해 주세요."},
    "unavailable": {"en": "Sales are briefly unavailable. Please retry shortly.",
                    "ko": "판매가 잠시 중단되었습니다. 잠시 후 다시 시도해 주세요."},
    "session_over": {"en": "Your session has ended. Please rejoin the queue.",
                     "ko": "세션이 종료되었습니다. 대기열에 다시 참여해 주세요."},
    "error": {"en": "Something went wrong. Please try again.", "ko": "문제가 발생했습니다. 다시 시도해 주세요."},
    "my_bookings": {"en": "My bookings", "ko": "내 예매"},
    "no_bookings": {"en": "No bookings yet.", "ko": "아직 예매가 없습니다."},
    "cancel": {"en": "Cancel", "ko": "예매 취소"},
    "cancelled": {"en": "Cancelled", "ko": "취소됨"},
    "booking_cancelled": {"en": "Booking {id} is cancelled; its seats are back on sale.",
                          "ko": "예매 {id}이(가) 취소되었습니다. 좌석은 다시 판매됩니다."},
    "booking_no": {"en": "Booking {id}", "ko": "예매 {id}"},
    "live": {"en": "Live", "ko": "실시간"},
    "reconnecting": {"en": "Reconnecting…", "ko": "다시 연결하는 중…"},
    "leave": {"en": "I'm done", "ko": "나가기"},
    "left": {"en": "You left the sale. Thank you!", "ko": "판매 페이지에서 나갔습니다. 감사합니다!"},
    "seat": {"en": "Seat", "ko": "좌석"},
    "row": {"en": "Row", "ko": "열"},
    "section": {"en": "Section", "ko": "구역"},
    "sale_not_open": {"en": "The sale has not started yet.", "ko": "아직 판매가 시작되지 않았습니다."},
    "sale_closed": {"en": "The sale has ended.", "ko": "판매가 종료되었습니다."},
    # The refusal page
    "refused_title": {"en": "This link cannot let you in", "ko": "이 링크로는 입장할 수 없습니다"},
    "token_used": {"en": "This admission link was already used. Links work once, so a copied link cannot let someone else in.",
                   "ko": "이미 사용된 입장 링크입니다. 링크는 한 번만 사용할 수 있어 복사한 링크로는 다른 사람이 입장할 수 없습니다."},
    "invalid_token": {"en": "This admission link is not valid.", "ko": "유효하지 않은 입장 링크입니다."},
    "token_expired": {"en": "This admission link has expired.", "ko": "입장 링크의 유효 시간이 지났습니다."},
    "event_not_found": {"en": "No sale is open for this link.", "ko": "이 링크로 열린 판매가 없습니다."},
    "back_to_queue": {"en": "Back to the waiting room", "ko": "대기실로 돌아가기"},
    "not_found_title": {"en": "Not found", "ko": "찾을 수 없음"},
}

CATALOG = Catalog(STRINGS)

# Strings the seat page script needs; handed over in a data attribute (no inline script).
SCRIPT_KEYS = (
    "selected", "hold", "holding", "booked", "taken", "expired", "limit", "busy", "unavailable",
    "session_over", "error", "no_bookings", "cancel", "cancelled", "booking_cancelled",
    "booking_no", "live", "reconnecting", "left", "sale_not_open", "sale_closed", "total",
)
