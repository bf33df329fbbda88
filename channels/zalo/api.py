"""The Zalo OA message API, with the access token refreshed when Zalo says it expired.

Zalo refresh tokens work once, so a refreshed pair is kept in the channels' shared state
(`channels.state`): a restart, or another replica, goes on with it instead of the spent pair of
the environment. For the same reason one replica refreshes at a time (a lock in that state):
replicas whose token expired at the same moment wait, then take the pair the first one kept,
instead of spending the refresh token again and failing. The stored pair remembers which
environment pair it descends from; once ZALO_ACCESS_TOKEN / ZALO_REFRESH_TOKEN are given new
values, those are the newer ones and win. Neither token is ever logged.
"""
from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from typing import Any, Dict, Optional

import aiohttp

from bot.settings import Settings
from channels.state import ChannelState, hold

logger = logging.getLogger(__name__)

TOKEN_EXPIRED = -216
# Zalo's free customer-service messages reach a user only within 48 hours of their last message
# to the OA; after that it refuses with -213 (no interaction in 48 hours, as documented) or, as
# integrators report it answering, -230 (no interaction in 7 days).
OUTSIDE_WINDOW = {-213, -230}
CALL_S = 15
TIMEOUT = aiohttp.ClientTimeout(total=CALL_S)
# The replicas' refresh lock outlasts a refresh (one call of at most CALL_S); a replica that died
# refreshing holds the others back this long at most.
REFRESH_LEASE_S = 2 * CALL_S


class ZaloApi:
    def __init__(self, settings: Settings, state: ChannelState, namespace: str) -> None:
        self.settings = settings
        self._access_token = settings.zalo_access_token or ""
        self._refresh_token = settings.zalo_refresh_token
        self._state = state
        self._tokens_key = f"{namespace}:tokens"
        self._refresh_lock = f"{namespace}:tokens:refreshing"
        # Which environment pair a stored pair descends from, without keeping the tokens themselves.
        self._environment = hashlib.sha256(
            f"{self._access_token}\n{self._refresh_token or ''}".encode()
        ).hexdigest()
        self._stored_checked = False
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

    async def send(self, user_id: str, message: Dict[str, Any]) -> Optional[str]:
        """Sends a customer-service message; None if Zalo accepted it, else why not (also logged)."""
        if not self._stored_checked:
            self._stored_checked = True
            await self._adopt_stored()
        token = self._access_token
        answer = await self._post(user_id, message, token)
        if answer.get("error") == TOKEN_EXPIRED and await self._refresh(token):
            answer = await self._post(user_id, message, self._access_token)
        error = answer.get("error", 0)
        if error == 0:
            return None
        refusal = f"error {error} ({answer.get('message')})"
        if error in OUTSIDE_WINDOW:
            refusal += ": the user last wrote to the OA more than 48 hours ago"
        logger.error("Zalo refused a message to user %s: %s", user_id, refusal)
        return refusal

    async def _adopt_stored(self) -> None:
        """Takes the refreshed pair kept in the state, if it descends from this environment's."""
        raw = await self._state.get(self._tokens_key)
        stored = json.loads(raw) if raw else {}
        if stored.get("environment") == self._environment and stored.get("access_token"):
            self._access_token = stored["access_token"]
            self._refresh_token = stored.get("refresh_token") or self._refresh_token

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
        # This replica's replies wait for one refresh, and the replicas for each other's.
        async with self._refreshing, hold(self._state, self._refresh_lock, REFRESH_LEASE_S):
            # Another reply of this process, or another replica, may have refreshed it meanwhile.
            await self._adopt_stored()
            if self._access_token != expired:
                return True
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
            await self._state.set(self._tokens_key, json.dumps({
                "access_token": self._access_token, "refresh_token": self._refresh_token,
                "environment": self._environment,
            }), ttl_s=None)
            logger.warning("Zalo access token refreshed and kept in the channels' state")
            return True
