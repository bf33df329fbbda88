"""The Zalo OA message API, with the access token refreshed when Zalo says it expired.

Tokens live in memory only: a refreshed pair is not written back anywhere, and Zalo refresh tokens
are single-use, so after a restart ZALO_ACCESS_TOKEN / ZALO_REFRESH_TOKEN must be current ones.
Neither token is ever logged.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any, Dict, Optional

import aiohttp

from bot.settings import Settings

logger = logging.getLogger(__name__)

TOKEN_EXPIRED = -216
TIMEOUT = aiohttp.ClientTimeout(total=15)


class ZaloApi:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._access_token = settings.zalo_access_token or ""
        self._refresh_token = settings.zalo_refresh_token
        self._refreshing = asyncio.Lock()
        self._session: Optional[aiohttp.ClientSession] = None

    @property
    def session(self) -> aiohttp.ClientSession:
        # Created on first use, inside the server's event loop.
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=TIMEOUT)
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def send(self, user_id: str, message: Dict[str, Any]) -> bool:
        """Sends a customer-service message; True if Zalo accepted it (failures are logged)."""
        token = self._access_token
        answer = await self._post(user_id, message, token)
        if answer.get("error") == TOKEN_EXPIRED and await self._refresh(token):
            answer = await self._post(user_id, message, self._access_token)
        if answer.get("error", 0) != 0:
            logger.error(
                "Zalo refused a message to user %s: error %s (%s)",
                user_id, answer.get("error"), answer.get("message"),
            )
            return False
        return True

    async def _post(self, user_id: str, message: Dict[str, Any], token: str) -> Dict[str, Any]:
        url = f"{self.settings.zalo_api_base_url.rstrip('/')}/v3.0/oa/message/cs"
        body = {"recipient": {"user_id": user_id}, "message": message}
        try:
            async with self.session.post(url, json=body, headers={"access_token": token}) as resp:
                answer = await resp.json(content_type=None)
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as exc:
            return {"error": "network", "message": repr(exc)}
        return answer if isinstance(answer, dict) else {"error": "bad answer", "message": answer}

    async def _refresh(self, expired: str) -> bool:
        async with self._refreshing:
            if self._access_token != expired:
                return True  # another reply refreshed it while this one waited
            if not (self._refresh_token and self.settings.zalo_app_secret):
                logger.error(
                    "Zalo access token expired; set ZALO_REFRESH_TOKEN and ZALO_APP_SECRET "
                    "to have it refreshed"
                )
                return False
            form = {
                "app_id": self.settings.zalo_app_id or "",
                "grant_type": "refresh_token",
                "refresh_token": self._refresh_token,
            }
            headers = {"secret_key": self.settings.zalo_app_secret}
            try:
                async with self.session.post(
                    self.settings.zalo_oauth_url, data=form, headers=headers
                ) as resp:
                    answer = await resp.json(content_type=None)
            except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as exc:
                logger.error("Zalo access token expired and refreshing it failed: %r", exc)
                return False
            if not isinstance(answer, dict) or not answer.get("access_token"):
                detail = answer.get("error_description") if isinstance(answer, dict) else answer
                logger.error("Zalo refused to refresh the access token: %s", detail)
                return False
            self._access_token = answer["access_token"]
            self._refresh_token = answer.get("refresh_token") or self._refresh_token
            logger.warning(
                "Zalo access token refreshed (kept in memory only: after a restart ZALO_ACCESS_TOKEN "
                "and ZALO_REFRESH_TOKEN need fresh values)"
            )
            return True
