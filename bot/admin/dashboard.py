"""The admins' small dashboard: per day (Huế's time) the citizens' messages, the share of typed
ones the assistant understood, the fallback rate and the reports filed per channel, read from the
tracker store; and the wordings it missed most that are still waiting in the inbox (those labelled
or thrown away are dealt with).

A typed message is understood when the inbox would not take it: its intent is neither the fallback
nor out of scope, it is at least INBOX_MIN_CONFIDENCE sure, a complaint's category was found, and
no fallback action answered it; or it was a button's word typed at its question. Buttons, pins and
photos count as messages, not in the shares (they are understood by construction). A report counts when the
assistant said it was sent or queued for sending.
"""
from __future__ import annotations

import json
from collections import Counter, defaultdict
from contextlib import closing
from datetime import datetime, timedelta, timezone
from typing import Any, Dict, List, Optional

from sqlalchemy import text as sql

from bot.admin import inbox, store
from bot.report import VN_TZ
from bot.settings import Settings

REPORTED = ("utter_report_sent", "utter_report_queued")
TOP_MISSED = 10


def _share(part: int, whole: int) -> Optional[float]:
    return round(part / whole, 3) if whole else None


def _day_figures(day: Dict[str, Any]) -> Dict[str, Any]:
    return {"messages": day["messages"], "typed": day["typed"],
            "understood_share": _share(day["understood"], day["typed"]),
            "fallback_rate": _share(day["fallback"], day["typed"]), "reports": dict(day["reports"])}


def _new_day() -> Dict[str, Any]:
    return {"messages": 0, "typed": 0, "understood": 0, "fallback": 0, "reports": Counter()}


def dashboard(settings: Settings, days: int = 30) -> Dict[str, Any]:
    days = max(int(days), 1)
    today = datetime.now(VN_TZ).date()
    first = today - timedelta(days=days - 1)
    since = datetime(first.year, first.month, first.day, tzinfo=VN_TZ).timestamp()
    by_day: Dict[str, Dict[str, Any]] = defaultdict(_new_day)
    with inbox.tracker_events(settings) as opened:
        if opened is not None:
            _, connection = opened
            plain = inbox.plain_requests(settings)
            rows = connection.execute(sql(
                "SELECT sender_id, type_name, timestamp, action_name, data FROM events "
                "WHERE timestamp >= :since AND type_name IN ('user', 'action', 'bot') ORDER BY id"), {"since": since})
            last_typed: Dict[str, Any] = {}  # sender -> their last typed message's day, until answered
            channel: Dict[str, str] = {}
            buttons: Dict[str, List[Dict[str, Any]]] = {}  # sender -> the buttons of the question asked
            for row in rows:
                day_name = datetime.fromtimestamp(row.timestamp, VN_TZ).date().isoformat()
                day = by_day[day_name]
                if row.type_name == "user":
                    event = json.loads(row.data or "{}")
                    if not inbox.from_citizen(event):
                        continue
                    day["messages"] += 1
                    channel[row.sender_id] = ((event.get("metadata") or {}).get("channel")
                                              or event.get("input_channel") or "unknown")
                    last_typed.pop(row.sender_id, None)
                    shown = buttons.pop(row.sender_id, [])
                    if inbox.citizen_wording(event):
                        reason = None if inbox.button_word(event, shown) else inbox.unsure_reason(
                            event.get("parse_data") or {}, settings.inbox_min_confidence, plain)
                        day["typed"] += 1
                        day["fallback"] += reason == "fallback"
                        day["understood"] += reason is None
                        last_typed[row.sender_id] = (day_name, reason)
                elif row.type_name == "action" and row.action_name == "action_fallback":
                    answered = last_typed.pop(row.sender_id, None)
                    if answered and answered[1] != "fallback":
                        by_day[answered[0]]["fallback"] += 1
                        by_day[answered[0]]["understood"] -= answered[1] is None
                elif row.type_name == "bot":
                    said = json.loads(row.data or "{}")
                    buttons[row.sender_id] = (said.get("data") or {}).get("buttons") or buttons.get(row.sender_id, [])
                    response = (said.get("metadata") or {}).get("utter_action")
                    if response in REPORTED:
                        day["reports"][channel.get(row.sender_id, "unknown")] += 1
    dates = [(first + timedelta(days=n)).isoformat() for n in range(days)]
    series = [{"date": date, **_day_figures(by_day[date])} for date in dates]
    total = _new_day()
    for figures in by_day.values():
        for name in ("messages", "typed", "understood", "fallback", "reports"):
            total[name] += figures[name]
    return {"days": series, "top_missed": _top_missed(settings, since), "totals": _day_figures(total)}


def _top_missed(settings: Settings, since: float) -> List[Dict[str, Any]]:
    """The open groups that received most messages in the period (what the inbox link shows)."""
    inbox.scan(settings)
    seen_since = datetime.fromtimestamp(since, timezone.utc).isoformat(timespec="seconds")
    with closing(store.connect()) as db:
        rows = db.execute(
            "SELECT key, text, COUNT(DISTINCT source) AS n FROM inbox WHERE status = 'open' AND seen_at >= ? "
            "GROUP BY key, text", (seen_since,)).fetchall()
    by_key: Dict[str, Counter] = defaultdict(Counter)
    for key, text, count in rows:
        by_key[key][text] += count
    top = sorted(by_key.values(), key=lambda variants: -sum(variants.values()))[:TOP_MISSED]
    return [{"text": inbox.representative(variants), "count": sum(variants.values())} for variants in top]
