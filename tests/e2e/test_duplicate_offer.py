"""The duplicate offer through the whole stack (`make run`'s processes) on Rasa's REST channel: a
citizen files a street-light report; a neighbour reporting the same light from the same spot is
offered it with its state and age, follows it by typing its code, and no second report is stored;
when an operator changes its state, the notifier tells the follower too."""
from __future__ import annotations

from typing import Iterator, List

import pytest
import requests

from tests.support.conversation import COMPLAINT, Citizen, offers_to_follow, text
from tests.support.places import THUAN_HOA
from tests.support.servers import eventually
from tests.support.stack import Stack, running_stack

pytestmark = pytest.mark.slow

INTERVAL_S = 1


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> Iterator[Stack]:
    env = {"NOTIFY_INTERVAL_S": str(INTERVAL_S), "OUTBOX_RETRY_S": "1"}
    with running_stack(tmp_path_factory.mktemp("stack") / "data", env=env) as running:
        yield running


def told(stack: Stack, sender: str) -> List[str]:
    """What the assistant has said in `sender`'s conversation (the notifier's messages included:
    the REST channel has no way to push them, so they are read from the conversation)."""
    answer = requests.get(f"{stack.rasa_url}/conversations/{sender}/tracker", timeout=10)
    assert answer.status_code == 200, answer.text
    return [event.get("text") or "" for event in answer.json()["events"] if event["event"] == "bot"]


async def test_a_neighbour_follows_the_report_nearby_instead_of_filing_it_again(stack):
    filer = Citizen(stack, "filer")
    code = filer.file_report()

    neighbour = Citizen(stack, "neighbour")
    neighbour.say(COMPLAINT)
    neighbour.say("/affirm")  # the street-light category
    offer = neighbour.pin(THUAN_HOA)
    assert offers_to_follow(offer) == [code], text(offer)
    assert f"{code} · đã tiếp nhận, đang chờ phân công · " in text(offer)
    assert "vẫn gửi phản ánh mới" in text(offer).lower()

    followed = neighbour.say(f"theo doi {code.lower()}")  # typed, without diacritics
    assert f"Bạn đang theo dõi phản ánh {code}" in text(followed), text(followed)
    assert len(stack.reports()) == 1  # nothing new filed
    assert stack.report(code)["followers"] == 1

    stack.set_state(code, "in_progress", "Đội điện lực đang thay bóng")
    news = (f"Phản ánh {code} của bạn có cập nhật mới: đang xử lý.\n"
            "Ghi chú của đơn vị xử lý: Đội điện lực đang thay bóng")
    await eventually(lambda: news in told(stack, neighbour.sender), "the follower told", timeout_s=20 * INTERVAL_S + 30)
    await eventually(lambda: news in told(stack, filer.sender), "the filer told", timeout_s=20 * INTERVAL_S + 30)
    assert told(stack, neighbour.sender).count(news) == 1


async def test_sending_anyway_files_a_second_report(stack):
    [first] = stack.reports()
    neighbour = Citizen(stack, "insistent")
    neighbour.say(COMPLAINT)
    neighbour.say("/affirm")
    assert offers_to_follow(neighbour.pin(THUAN_HOA)) == [first["service_request_id"]]
    photos = neighbour.say("gửi mới")
    assert "ảnh" in text(photos).lower()  # on to the photos, then the summary
    neighbour.say("/deny")
    sent = neighbour.say("/affirm")
    assert "Đã gửi phản ánh" in text(sent), text(sent)
    assert len(stack.reports()) == 2
