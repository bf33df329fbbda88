"""One place decides whether a channel starts: unset variables leave it off with the reason, in
the channel's log and in `make run`'s banner alike; set but unusable ones stop the start."""
from __future__ import annotations

from typing import Dict

import pytest

from bot.settings import SettingsError, load_settings
from channels.telegram import poll
from channels.telegram.channel import TelegramInput
from channels.zalo.channel import ZaloInput
from tools.supervise import print_welcome

TELEGRAM = {"TELEGRAM_TOKEN": "123456:TEST-token", "TELEGRAM_WEBHOOK_SECRET": "s3cret_-X"}
ZALO = {"ZALO_APP_ID": "42", "ZALO_OA_SECRET_KEY": "oa-secret", "ZALO_ACCESS_TOKEN": "za-1"}


def banner(env: Dict[str, str], capsys) -> Dict[str, str]:
    print_welcome(load_settings(env))
    lines = [line.strip().split(":", 1) for line in capsys.readouterr().out.splitlines() if ":" in line]
    return {name: value.strip() for name, value in lines}


def test_unset_channels_are_off_with_what_is_missing(capsys):
    shown = banner({}, capsys)
    assert shown["Telegram"] == "off (TELEGRAM_TOKEN and TELEGRAM_WEBHOOK_SECRET are unset)"
    assert shown["Zalo"] == "off (ZALO_APP_ID, ZALO_OA_SECRET_KEY and ZALO_ACCESS_TOKEN are unset)"


def test_a_token_without_its_webhook_secret_is_off(capsys):
    shown = banner({"TELEGRAM_TOKEN": TELEGRAM["TELEGRAM_TOKEN"], "ZALO_APP_ID": "42"}, capsys)
    assert shown["Telegram"] == "off (TELEGRAM_WEBHOOK_SECRET is unset)"
    assert shown["Zalo"] == "off (ZALO_OA_SECRET_KEY and ZALO_ACCESS_TOKEN are unset)"


def test_configured_channels_are_on_and_telegram_says_how_updates_arrive(capsys):
    shown = banner({**TELEGRAM, **ZALO}, capsys)
    assert shown["Telegram"].startswith("on (no TELEGRAM_PUBLIC_URL: run")
    assert "python -m channels.telegram.poll" in shown["Telegram"]
    assert shown["Zalo"] == "on"
    shown = banner({**TELEGRAM, "TELEGRAM_PUBLIC_URL": "https://phananh.example.vn"}, capsys)
    assert shown["Telegram"] == "on"


@pytest.mark.parametrize("env", [{}, {"TELEGRAM_TOKEN": "1:a"}, TELEGRAM, ZALO, {**TELEGRAM, **ZALO}])
def test_the_channels_follow_the_same_decision_as_the_banner(env):
    settings = load_settings(env)
    telegram, zalo = TelegramInput(settings), ZaloInput(settings)
    assert (telegram.get_output_channel() is None) == (settings.telegram_off_reason() is not None)
    assert (zalo.get_output_channel() is None) == (settings.zalo_off_reason() is not None)


@pytest.mark.parametrize("name, value, says", [
    ("TELEGRAM_API_BASE_URL", "https://api.telegram.org", "must end with /bot"),
    ("TELEGRAM_API_BASE_URL", "api.telegram.org/bot", "TELEGRAM_API_BASE_URL must be a http or https URL"),
    ("TELEGRAM_WEBHOOK_SECRET", "mật khẩu có dấu cách", "TELEGRAM_WEBHOOK_SECRET must be 1 to 256"),
    ("TELEGRAM_WEBHOOK_SECRET", "x" * 257, "TELEGRAM_WEBHOOK_SECRET must be 1 to 256"),
    ("TELEGRAM_PUBLIC_URL", "http://phananh.example.vn", "TELEGRAM_PUBLIC_URL must be a https URL"),
    ("ZALO_API_BASE_URL", "openapi.zalo.me", "ZALO_API_BASE_URL must be a http or https URL"),
])
def test_set_but_unusable_values_refuse_to_start(name, value, says):
    with pytest.raises(SettingsError, match=says) as refused:
        load_settings({**TELEGRAM, name: value})
    if name == "TELEGRAM_WEBHOOK_SECRET":
        assert value not in str(refused.value)  # a secret is never echoed


def test_a_self_hosted_bot_api_server_is_accepted_with_or_without_the_last_slash():
    for url in ("http://127.0.0.1:8081/bot", "http://127.0.0.1:8081/bot/"):
        assert load_settings({"TELEGRAM_API_BASE_URL": url}).telegram_api_base_url == url.rstrip("/")


def test_the_poller_stops_with_the_reason(monkeypatch, capsys):
    monkeypatch.setenv("TELEGRAM_API_BASE_URL", "https://api.telegram.org")
    with pytest.raises(SystemExit) as stopped:
        poll.main()
    assert stopped.value.code == 2
    assert "TELEGRAM_API_BASE_URL must end with /bot" in capsys.readouterr().err
    monkeypatch.delenv("TELEGRAM_API_BASE_URL")
    monkeypatch.delenv("TELEGRAM_TOKEN", raising=False)
    assert poll.main() == 2
    assert "Telegram is not configured: TELEGRAM_TOKEN" in capsys.readouterr().err
