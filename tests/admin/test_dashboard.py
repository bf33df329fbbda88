"""The admins' dashboard: messages a day, share understood, fallback rate, reports per channel,
top missed wordings."""
from __future__ import annotations

from datetime import datetime, timedelta

from rasa.shared.core.events import ActionExecuted, BotUttered

from bot.admin import dashboard, inbox, labels
from bot.report import VN_TZ, summary_buttons
from tests.support.tracker_store import bot_said, store_events, user_said


def at(days_ago: int, hour: int = 9) -> float:
    """Unix time `days_ago` days before today, at `hour` o'clock in Huế."""
    day = datetime.now(VN_TZ).date() - timedelta(days=days_ago)
    return datetime(day.year, day.month, day.day, hour, tzinfo=VN_TZ).timestamp()


async def test_the_dashboard_counts_each_day_and_the_top_missed(admin_settings, data_dir):
    settings = admin_settings
    empty = dashboard.dashboard(settings, days=7)
    assert len(empty["days"]) == 7 and empty["top_missed"] == []
    assert empty["totals"] == {"messages": 0, "typed": 0, "understood_share": None, "fallback_rate": None,
                               "reports": {}}

    # Yesterday on Telegram: a report filed (its buttons count as messages, not in the shares),
    # and twice a wording the assistant missed.
    await store_events(data_dir, "telegram:1", [
        user_said("rác đầy kiệt 5", "report_issue", 0.95, at=at(1),
                  entities=[{"entity": "category", "value": "moi_truong", "confidence": 0.9}]),
        user_said("/affirm", "affirm", 1.0, at=at(1)),
        bot_said("Đã gửi phản ánh PA000001.", "utter_report_sent", at=at(1)),
        user_said("ổ voi ổ gà la liệt", "nlu_fallback", 0.3, at=at(1, 10)),
        ActionExecuted("action_fallback", timestamp=at(1, 10)),
        user_said("o voi o ga la liet", "report_issue", 0.62, at=at(1, 11)),
        ActionExecuted("action_fallback", timestamp=at(1, 11)),  # a rule's fallback after a sure-looking intent
    ])
    # Today on Zalo: a report queued while the backend was away (confirmed by typing the button's
    # word: understood, however unsure the model was), one message out of scope.
    await store_events(data_dir, "zalo:2", [
        user_said("đèn đường tắt", "report_issue", 0.9, channel="zalo", at=at(0),
                  entities=[{"entity": "category", "value": "chieu_sang", "confidence": 0.8}]),
        BotUttered("Bạn xem lại rồi bấm Gửi nhé.", {"buttons": summary_buttons()},
                   {"utter_action": "utter_ask_confirmed"}, timestamp=at(0)),
        user_said("gửi", "affirm", 0.42, channel="zalo", at=at(0)),
        bot_said("Phản ánh sẽ được gửi khi hệ thống sẵn sàng.", "utter_report_queued", at=at(0)),
        user_said("giá vàng hôm nay", "out_of_scope", 0.9, channel="zalo", at=at(0)),
        # The notifier's trigger_intent is the assistant speaking, not a citizen's message.
        user_said("EXTERNAL: EXTERNAL_report_resolved", "EXTERNAL_report_resolved", 1.0, channel="zalo", at=at(0)),
    ])
    # Before the period: not counted.
    await store_events(data_dir, "web:3", [user_said("xin chào", "greet", 0.99, channel="web", at=at(9))])

    board = dashboard.dashboard(settings, days=7)
    days = {day["date"]: day for day in board["days"]}
    yesterday, today = days[board["days"][-2]["date"]], days[board["days"][-1]["date"]]
    assert board["days"][-1]["date"] == datetime.now(VN_TZ).date().isoformat()
    assert yesterday == {"date": yesterday["date"], "messages": 4, "typed": 3, "understood_share": 0.333,
                         "fallback_rate": 0.667, "reports": {"telegram": 1}}
    assert today == {"date": today["date"], "messages": 3, "typed": 3, "understood_share": 0.667,
                     "fallback_rate": 0.0, "reports": {"zalo": 1}}
    assert board["totals"] == {"messages": 7, "typed": 6, "understood_share": 0.5, "fallback_rate": 0.333,
                               "reports": {"telegram": 1, "zalo": 1}}
    assert board["top_missed"] == [{"text": "ổ voi ổ gà la liệt", "count": 2},
                                   {"text": "giá vàng hôm nay", "count": 1}]

    # What an admin threw away is no longer a top miss.
    inbox.discard(["gia vang hom nay"], "admin@ioc")
    assert [m["text"] for m in dashboard.dashboard(settings, days=7)["top_missed"]] == ["ổ voi ổ gà la liệt"]
    # Nor one labelled: the top missed are what the inbox still shows.
    labels.label(settings, ["o voi o ga la liet"], "report_issue", "giao_thong", None, "admin@ioc")
    assert dashboard.dashboard(settings, days=7)["top_missed"] == []
