"""Strings of the operator dashboard, in English and Korean."""

from __future__ import annotations

from fairgate.i18n import Catalog

DASHBOARD_STRINGS = Catalog({
    "title": {"en": "Operator dashboard", "ko": "운영자 대시보드"},
    "sign_in": {"en": "Sign in", "ko": "로그인"},
    "sign_out": {"en": "Sign out", "ko": "로그아웃"},
    "token": {"en": "Admin token", "ko": "관리자 토큰"},
    "token_help": {
        "en": "ADMIN_TOKEN (printed by make demo) or your operator token. The page keeps a "
              "signed session cookie, never the token.",
        "ko": "ADMIN_TOKEN(make demo가 출력) 또는 운영자 토큰. 페이지는 토큰이 아닌 서명된 세션 "
              "쿠키만 보관합니다.",
    },
    "refused": {"en": "That token was refused.", "ko": "토큰이 거부되었습니다."},
    "signed_in_as": {"en": "Signed in as", "ko": "로그인 사용자"},
    "rooms": {"en": "Rooms", "ko": "대기실"},
    "room": {"en": "Room", "ko": "대기실"},
    "state": {"en": "State", "ko": "상태"},
    "mode": {"en": "Mode", "ko": "방식"},
    "knob": {"en": "Admit / min", "ko": "분당 입장"},
    "measured": {"en": "Measured / min", "ko": "실측 / 분"},
    "queue": {"en": "Waiting", "ko": "대기"},
    "active": {"en": "Active / max", "ko": "이용 중 / 최대"},
    "last_wait": {"en": "Last in line waits", "ko": "마지막 대기자 예상"},
    "no_rooms": {"en": "No rooms yet. Create one with waitingroom-admin rooms set.",
                 "ko": "대기실이 없습니다. waitingroom-admin rooms set으로 만드세요."},
    "chart_queue": {"en": "Queue length", "ko": "대기열 길이"},
    "chart_rate": {"en": "Admissions per minute: measured against the knob",
                   "ko": "분당 입장: 실측 대 설정"},
    "chart_active": {"en": "Active sessions", "ko": "이용 중 세션"},
    "chart_wait": {"en": "Expected wait of the last in line (min)",
                   "ko": "마지막 대기자 예상 대기 (분)"},
    "chart_polls": {"en": "Polling visitors (last minute)", "ko": "상태 확인 중인 방문자 (1분)"},
    "series_measured": {"en": "measured", "ko": "실측"},
    "series_knob": {"en": "knob", "ko": "설정"},
    "series_active": {"en": "active", "ko": "이용 중"},
    "series_max": {"en": "max", "ko": "최대"},
    "series_wait": {"en": "expected", "ko": "예상"},
    "series_low": {"en": "shortest likely", "ko": "최소 예상"},
    "series_high": {"en": "longest likely", "ko": "최대 예상"},
    "controls": {"en": "Controls", "ko": "제어"},
    "apply": {"en": "Apply", "ko": "적용"},
    "max_active": {"en": "Max active", "ko": "최대 동시 이용"},
    "pause": {"en": "Pause", "ko": "일시 정지"},
    "resume": {"en": "Resume", "ko": "재개"},
    "close": {"en": "Close", "ko": "닫기"},
    "close_confirm": {"en": "Close the room? Waiting visitors will be told the sale is closed.",
                      "ko": "대기실을 닫을까요? 대기 중인 방문자에게 판매 종료가 표시됩니다."},
    "saved": {"en": "Saved; takes effect at the next admission tick.",
              "ko": "저장됨, 다음 입장 틱부터 적용됩니다."},
    "preview": {"en": "What if", "ko": "미리 보기"},
    "preview_help": {"en": "Wait of the last person in line at a proposed rate, before "
                           "applying it.",
                     "ko": "적용하기 전에, 제안한 속도에서 마지막 대기자의 대기 시간."},
    "preview_result": {"en": "At {rate}/min the last of {n} waiting would wait {wait}",
                       "ko": "분당 {rate}명이면 대기자 {n}명 중 마지막 사람은 {wait} 기다립니다"},
    "preview_range": {"en": " ({lo} to {hi})", "ko": " ({lo}~{hi})"},
    "preview_now": {"en": "; now {wait}.", "ko": "; 현재 {wait}."},
    "audit": {"en": "Audit log", "ko": "변경 기록"},
    "when": {"en": "When", "ko": "시각"},
    "who": {"en": "Who", "ko": "사용자"},
    "what": {"en": "Change", "ko": "변경"},
    "target": {"en": "On", "ko": "대상"},
    "no_audit": {"en": "No changes recorded yet.", "ko": "기록된 변경이 없습니다."},
    # Also shown when the server answers but cannot read its figures (Redis away: 503).
    "offline": {"en": "The live figures cannot be read right now; retrying.",
                "ko": "지금은 실시간 수치를 읽을 수 없습니다. 재시도 중."},
    "expired": {"en": "Your session ended; sign in again.",
                "ko": "세션이 끝났습니다. 다시 로그인하세요."},
    "never": {"en": "never (paused)", "ko": "없음 (정지)"},
    "noscript": {"en": "The dashboard needs JavaScript; the admin API and waitingroom-admin "
                       "work without it.",
                 "ko": "대시보드에는 JavaScript가 필요합니다. 관리 API와 waitingroom-admin은 "
                       "없이도 작동합니다."},
})
