"""A citizen talking to the assistant through Rasa's REST channel, for end-to-end tests."""
from __future__ import annotations

import uuid
from typing import Any, Dict, List, Optional

import requests


class Citizen:
    """One sender talking to the assistant through the REST channel."""

    def __init__(self, stack, name: str) -> None:
        self.stack = stack
        self.sender = f"web:{name}-{uuid.uuid4().hex[:8]}"

    def say(self, message: str, metadata: Optional[Dict[str, Any]] = None) -> List[Dict[str, Any]]:
        body = {"sender": self.sender, "message": message,
                "metadata": {"channel": "web", "user_id": self.sender, **(metadata or {})}}
        response = requests.post(self.stack.rest_webhook, json=body, timeout=60)
        assert response.status_code == 200, response.text
        return response.json()

    def pin(self, lat_lon) -> List[Dict[str, Any]]:
        return self.say("/share_location", {"location": {"latitude": lat_lon[0], "longitude": lat_lon[1]}})


def text(replies: List[Dict[str, Any]]) -> str:
    return "\n".join(r.get("text") or "" for r in replies)


def payloads(replies: List[Dict[str, Any]]) -> List[str]:
    return [b["payload"] for r in replies for b in r.get("buttons") or []]
