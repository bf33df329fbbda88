"""Whole conversations through the real stack (`python -m bot.cli run`: backend, actions, Rasa
with credentials.yml), one per channel, with the Telegram and Zalo APIs replaced by stand-ins:
a complaint, the category confirmed with the bot's button, a pin in Huế, a photo, the summary
confirmed; then the report and its photo are read back from the backend."""
from __future__ import annotations

from typing import Iterator

import pytest
import requests

from tests.support.conversation import ChatCitizen, TelegramCitizen, ZaloCitizen
from tests.support.places import THUAN_HOA
from tests.support.servers import BackgroundLoop
from tests.support.stack import Stack, running_stack
from tests.support.telegram import TelegramStandin
from tests.support.zalo import ZaloStandin

pytestmark = pytest.mark.slow

TOKEN = "555:E2E-token"
SECRET = "e2e-secret"
ZALO = {"app_id": "42", "oa_secret": "oa-secret", "app_secret": "app-secret"}


class Platforms:
    """The Telegram and Zalo stand-ins on an event loop of their own, so that they outlive each
    test's loop."""

    def __init__(self) -> None:
        self.loop = BackgroundLoop()
        self.telegram = self.loop.run(TelegramStandin(TOKEN).start())
        self.zalo = self.loop.run(ZaloStandin("za-1", "zr-1", ZALO["app_id"], ZALO["app_secret"]).start())

    def env(self) -> dict:
        """The variables that turn both channels on against the stand-ins."""
        return {
            "TELEGRAM_TOKEN": TOKEN, "TELEGRAM_WEBHOOK_SECRET": SECRET,
            "TELEGRAM_API_BASE_URL": self.telegram.base_url,
            "ZALO_APP_ID": ZALO["app_id"], "ZALO_OA_SECRET_KEY": ZALO["oa_secret"],
            "ZALO_ACCESS_TOKEN": "za-1", "ZALO_REFRESH_TOKEN": "zr-1",
            "ZALO_APP_SECRET": ZALO["app_secret"], "ZALO_API_BASE_URL": self.zalo.url,
            "ZALO_OAUTH_URL": self.zalo.oauth_url,
        }

    def close(self) -> None:
        self.loop.run(self.telegram.stop())
        self.loop.run(self.zalo.stop())
        self.loop.close()


@pytest.fixture(scope="module")
def platforms() -> Iterator[Platforms]:
    running = Platforms()
    yield running
    running.close()


@pytest.fixture(scope="module")
def stack(tmp_path_factory, platforms) -> Iterator[Stack]:
    with running_stack(tmp_path_factory.mktemp("stack") / "data", env=platforms.env()) as running:
        for channel in ("telegram", "zalo"):
            status = requests.get(f"{running.rasa_url}/webhooks/{channel}/", timeout=10).json()
            assert status["status"] == "ok", f"the {channel} channel is off"
        yield running


def telegram_citizen(stack: Stack, platforms: Platforms) -> ChatCitizen:
    return TelegramCitizen(stack, platforms.telegram, SECRET)


def zalo_citizen(stack: Stack, platforms: Platforms) -> ChatCitizen:
    return ZaloCitizen(stack, platforms.zalo, ZALO["oa_secret"])


@pytest.mark.parametrize("citizen", [telegram_citizen, zalo_citizen])
async def test_a_whole_report(stack, platforms, citizen):
    code = await citizen(stack, platforms).file_report()

    report = stack.report(code)
    assert (report["lat"], report["long"]) == pytest.approx(THUAN_HOA, abs=1e-4)
    photo = requests.get(report["media_url"], timeout=10)
    assert photo.status_code == 200 and photo.content.startswith(b"\xff\xd8")
    assert TOKEN.split(":")[1] not in stack.output()
