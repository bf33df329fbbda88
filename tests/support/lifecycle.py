"""Reports worked by an IOC operator on the routing backend the assistant points at (its settings
from the environment, as `assistant_env` sets them), for tests of what citizens hear back.

    code = await filed_and_resolved(note="Đã thay bóng đèn mới")
    await change_state(code, "assigned", "Chuyển lại kiểm tra")
"""
from __future__ import annotations

from typing import Any, Dict

import aiohttp

from bot.open311_client import Open311Client
from bot.settings import DEV_OPERATOR_KEY, get_settings
from tests.support.conversation import COMPLAINT
from tests.support.places import THUAN_HOA
from tests.support.trackers import SENDER


def backend_client() -> Open311Client:
    return Open311Client.from_settings(get_settings(), retries=0)


async def file_report(sender: str = SENDER) -> str:
    """A street-light report of `sender` in Phường Thuận Hóa; its code."""
    async with backend_client() as backend:
        created = await backend.create_request(service_code="chieu_sang", description=COMPLAINT, lat=THUAN_HOA[0],
                                               long=THUAN_HOA[1], account_id=sender, channel="telegram")
    return created["service_request_id"]


async def change_state(code: str, state: str, note: str) -> None:
    """What an operator does with the development operator key (`state.json`)."""
    url = f"{get_settings().effective_backend_url}/requests/{code}/state.json"
    async with aiohttp.ClientSession() as http:
        form = {"api_key": DEV_OPERATOR_KEY, "state": state, "note": note}
        async with http.post(url, data=form) as answer:
            assert answer.status == 200, await answer.text()


async def filed_and_resolved(sender: str = SENDER, note: str = "Đã thay bóng đèn mới") -> str:
    """A report of `sender`, resolved by an operator with `note`; its code."""
    code = await file_report(sender)
    await change_state(code, "resolved", note)
    return code


async def stored(code: str) -> Dict[str, Any]:
    """The report as the backend keeps it."""
    async with backend_client() as backend:
        report = await backend.get_request(code)
    assert report is not None
    return report
