"""The Telegram and Zalo platforms replaced by stand-ins for tests of the whole stack: both
channels turned on against them (`Platforms.env()` for `running_stack`)."""
from __future__ import annotations

from tests.support.conversation import ChatCitizen, TelegramCitizen, ZaloCitizen
from tests.support.servers import BackgroundLoop
from tests.support.stack import Stack
from tests.support.telegram import TelegramStandin
from tests.support.zalo import ZaloStandin

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


def telegram_citizen(stack: Stack, platforms: Platforms) -> ChatCitizen:
    return TelegramCitizen(stack, platforms.telegram, SECRET)


def zalo_citizen(stack: Stack, platforms: Platforms) -> ChatCitizen:
    return ZaloCitizen(stack, platforms.zalo, ZALO["oa_secret"])
