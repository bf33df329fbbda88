"""A scripted citizen for the benches that file reports: each step posted in turn, as a person
answers the questions they are asked."""
from __future__ import annotations

from typing import Any, Dict, List

import aiohttp

Replies = List[Dict[str, Any]]

# bot/duplicates.py offers to follow a report nearby; "✅ Vẫn gửi phản ánh mới" is its "yes".
SEND_ANYWAY = {"message": "/affirm"}


def offers_to_follow(replies: Replies) -> bool:
    return any(str(button.get("payload", "")).startswith('/inform{"report_id"')
               for reply in replies for button in reply.get("buttons") or [])


async def _post(session: aiohttp.ClientSession, url: str, body: Dict[str, Any]) -> Replies:
    async with session.post(url, json=body) as response:
        response.raise_for_status()
        return await response.json()


async def follow_script(session: aiohttp.ClientSession, url: str, sender: str,
                        steps: List[Dict[str, Any]]) -> Replies:
    """Posts each step (the body without `sender`) to `url`; the replies to the last one. The
    benches file many reports at one spot, so from the second on the assistant offers the earlier
    ones to follow: the citizen sends theirs anyway, as the benches measure filing."""
    replies: Replies = []
    for step in steps:
        replies = await _post(session, url, {"sender": sender, **step})
        if offers_to_follow(replies):
            replies = await _post(session, url, {"sender": sender, **SEND_ANYWAY})
    return replies
