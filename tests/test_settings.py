"""Every setting is checked when a process starts: a typo is named at once, never met later."""
from __future__ import annotations

import pytest

from bot.settings import SettingsError, load_settings
from tests.support.stack import run_module
from tools.supervise import print_welcome


@pytest.mark.parametrize(
    "env, named",
    [
        ({"BACKEND_TIMEOUT_S": "ten"}, "BACKEND_TIMEOUT_S"),
        ({"BACKEND_TIMEOUT_S": "-1"}, "BACKEND_TIMEOUT_S"),
        ({"BACKEND_TIMEOUT_S": "nan"}, "BACKEND_TIMEOUT_S"),
        ({"OUTBOX_RETRY_S": "300,half an hour"}, "OUTBOX_RETRY_S"),
        ({"OUTBOX_RETRY_S": "0"}, "OUTBOX_RETRY_S"),
        ({"GEOCODER": "google"}, "GEOCODER"),
        ({"INBOX_MIN_CONFIDENCE": "50%"}, "INBOX_MIN_CONFIDENCE must be a number from 0 to 1"),
        ({"RETRAIN_MARGIN": "1.5"}, "RETRAIN_MARGIN must be a number from 0 to 1"),
        ({"RASA_REPLICA_URLS": "http://10.0.0.2:5005,10.0.0.3:5005"}, "RASA_REPLICA_URLS"),
        ({"ADMIN_PORT": "8000"}, "BACKEND_PORT and ADMIN_PORT are both 8000"),
        ({"RASA_PORT": "5oo5"}, "RASA_PORT"),
        ({"BACKEND_PORT": "70000"}, "BACKEND_PORT"),
        ({"ACTIONS_PORT": "5005"}, "RASA_PORT and ACTIONS_PORT are both 5005"),
        ({"BACKEND_URL": "127.0.0.1:8000/open311/v2"}, "BACKEND_URL"),
        ({"DATABASE_URL": "mysql://db/reports"}, "DATABASE_URL"),
        ({"LOCK_STORE_URL": "localhost:6379"}, "LOCK_STORE_URL"),
        ({"WEBCHAT_ORIGINS": "phananh.hue.gov.vn"}, "WEBCHAT_ORIGINS"),
        ({"WEBCHAT_ORIGINS": "https://phananh.hue.gov.vn/chat"}, "WEBCHAT_ORIGINS"),
        ({"WEBCHAT_ORIGINS": "*"}, "WEBCHAT_ORIGINS"),
        ({"ALLOWED_HOSTS": "https://phananh.hue.gov.vn"}, "ALLOWED_HOSTS"),
        ({"ALLOWED_HOSTS": "phananh.hue.gov.vn:443"}, "ALLOWED_HOSTS"),
        ({"SENDER_MESSAGES_PER_MINUTE": "0"}, "SENDER_MESSAGES_PER_MINUTE"),
        ({"SENDER_PHOTOS_PER_HOUR": "many"}, "SENDER_PHOTOS_PER_HOUR"),
        ({"BACKEND_UPLOADS_PER_HOUR": "-5"}, "BACKEND_UPLOADS_PER_HOUR"),
        ({"ASSISTANT_STORE_URL": "sqlite:///data/outbox.sqlite3"}, "ASSISTANT_STORE_URL"),  # one host only
    ],
)
def test_an_unusable_setting_is_refused_by_name(env, named):
    with pytest.raises(SettingsError, match=named):
        load_settings(env)


def test_a_refused_url_never_shows_its_password():
    with pytest.raises(SettingsError) as refused:
        load_settings({"TRACKER_STORE_URL": "mysql://rasa:s3cret@db/rasa"})
    assert "s3cret" not in str(refused.value)


def test_usable_settings_are_taken_as_given():
    settings = load_settings({"GEOCODER": "Nominatim", "BACKEND_TIMEOUT_S": "2.5",
                              "DATABASE_URL": "postgresql://root@127.0.0.1/test",
                              "LOCK_STORE_URL": "redis://127.0.0.1:6379/1"})
    assert settings.geocoder == "nominatim"
    assert load_settings({}).outbox_retry_s == (300, 1800)  # FixMyStreet's: 5 minutes, then every 30
    assert load_settings({"OUTBOX_RETRY_S": "0.5, 2"}).outbox_retry_s == (0.5, 2)
    assert settings.backend_timeout_s == 2.5


@pytest.mark.parametrize("module", ["bot.cli", "backend"])
def test_a_process_with_a_bad_setting_stops_with_its_name_and_no_traceback(module, tmp_path):
    args = ["run"] if module == "bot.cli" else []
    result = run_module(module, *args, env={"DATA_DIR": str(tmp_path), "GEOCODER": "gogle"}, timeout_s=120)
    assert result.returncode != 0
    assert "GEOCODER must be one of offline, nominatim" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_rasa_servers_default_to_the_local_one_and_replicas_to_rasa_url():
    local = load_settings({"RASA_PORT": "5105"})
    assert (local.effective_rasa_url, local.effective_rasa_replica_urls) == (
        "http://127.0.0.1:5105", ("http://127.0.0.1:5105",))
    balanced = load_settings({"RASA_URL": "http://127.0.0.1:8082/",
                              "RASA_REPLICA_URLS": "http://10.0.0.2:5005, http://10.0.0.3:5005/"})
    assert balanced.effective_rasa_url == "http://127.0.0.1:8082"
    assert balanced.effective_rasa_replica_urls == ("http://10.0.0.2:5005", "http://10.0.0.3:5005")


def test_the_banner_names_the_open311_server_actually_used(capsys):
    print_welcome(load_settings({}))
    bundled = capsys.readouterr().out
    assert "Routing backend: http://127.0.0.1:8000/open311/v2/services.json" in bundled
    assert "Console (IOC):   http://127.0.0.1:8000/console/" in bundled
    assert "Public figures:  http://127.0.0.1:8000/stats/" in bundled
    print_welcome(load_settings({"BACKEND_URL": "https://open311.example.org/open311/v2/"}))
    elsewhere = capsys.readouterr().out
    assert "Routing backend: https://open311.example.org/open311/v2/services.json" in elsewhere
    assert "127.0.0.1:8000" not in elsewhere  # nor its console and figures: not started here


def test_the_servers_answer_their_own_names_only():
    settings = load_settings({"HOST": "0.0.0.0", "RASA_API_TOKEN": "t", "ALLOWED_HOSTS": "PhanAnh.Hue.gov.vn.",
                              "TELEGRAM_PUBLIC_URL": "https://bot.hue.gov.vn",
                              "WEBCHAT_ORIGINS": "https://Hue.gov.vn:8443/"})
    assert settings.webchat_origins == ("https://hue.gov.vn:8443",)
    for host in ("127.0.0.1:5005", "localhost", "[::1]:8000", "phananh.hue.gov.vn", "PHANANH.hue.gov.vn.:443",
                 "bot.hue.gov.vn"):
        assert settings.serves_host(host), host
    for host in (None, "", "evil.example", "phananh.hue.gov.vn.evil.example", "hue.gov.vn"):
        assert not settings.serves_host(host), host
