"""The Telegram channel through Rasa's app factory, real python-telegram-bot against a stand-in
of the Bot API, photos stored on the real routing backend."""
from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
from typing import Any, Dict, Optional

import aiohttp
import pytest

from bot.messages import SEND_PHOTO, SHARE_CONTACT, SHARE_LOCATION
from bot.settings import Settings
from channels.limits import MAX_TEXT_CHARS, TOO_FAST, TOO_LONG
from channels.telegram.channel import TelegramInput
from channels.telegram.keyboards import SEND_LOCATION_TITLE
from channels.telegram.poll import poll
from channels.telegram.updates import UNSUPPORTED
from tests.support.images import jpeg
from tests.support.places import HANOI, THUAN_HOA
from tests.support.rasa_app import CATEGORY_BUTTONS, RasaApp
from tests.support.servers import eventually
from tests.support.services import REDIS_URL
from tests.support.telegram import CHAT, TelegramStandin, callback_update, message_update, photo_sizes, post_update

TOKEN = "123456:TEST-token-never-in-logs"
SECRET = "webhook-secret-1"


@pytest.fixture
async def telegram_api():
    async with TelegramStandin(TOKEN) as standin:
        yield standin


def telegram_settings(backend: Settings, api: TelegramStandin, **more: Any) -> Settings:
    return dataclasses.replace(
        backend, telegram_token=TOKEN, telegram_webhook_secret=SECRET,
        telegram_api_base_url=api.base_url, **more,
    )


@pytest.fixture
async def rasa(backend, telegram_api):
    async with RasaApp(TelegramInput(telegram_settings(backend, telegram_api))) as app:
        yield app


async def post(app: RasaApp, update: Dict[str, Any], secret: Optional[str] = SECRET) -> int:
    return await post_update(app.url, update, secret)


async def test_wrong_or_missing_secret_is_rejected_and_nothing_processed(rasa, telegram_api):
    assert await post(rasa, message_update(1, text="xin chào"), secret=None) == 401
    assert await post(rasa, message_update(2, text="xin chào"), secret="guess") == 403
    assert rasa.assistant.received == []
    assert telegram_api.sent("sendMessage") == []


async def test_text_reaches_assistant_and_buttons_become_an_inline_keyboard(rasa, telegram_api):
    rasa.assistant.reply = lambda m: [{"text": "Đèn đường, đúng không ạ?", "buttons": CATEGORY_BUTTONS}]
    assert await post(rasa, message_update(1, text="đèn đường kiệt 45 hỏng")) == 200
    [message] = rasa.assistant.received
    assert message.sender_id == f"telegram:{CHAT}"
    assert message.text == "đèn đường kiệt 45 hỏng"
    assert message.input_channel == "telegram"
    assert message.metadata == {"channel": "telegram", "user_id": str(CHAT)}
    [sent] = telegram_api.sent("sendMessage")
    assert sent["chat_id"] == str(CHAT)
    assert "parse_mode" not in sent
    assert sent["reply_markup"] == {"inline_keyboard": [
        [{"text": "✅ Đúng", "callback_data": "/affirm"}],
        [{"text": "Giao thông", "callback_data": '/inform{"category":"giao_thong"}'}],
    ]}


async def test_button_press_is_answered_and_sends_its_payload(rasa, telegram_api):
    assert await post(rasa, callback_update(1, '/inform{"category":"giao_thong"}')) == 200
    assert [m.text for m in rasa.assistant.received] == ['/inform{"category":"giao_thong"}']
    assert telegram_api.sent("answerCallbackQuery") == [{"callback_query_id": "cq1"}]


async def test_payload_longer_than_telegram_allows_still_comes_back(rasa, telegram_api):
    payload = "kiệt 45 Nguyễn Huệ, phường Thuận Hóa, thành phố Huế, tỉnh Thừa Thiên Huế"
    rasa.assistant.reply = lambda m: (
        [{"text": "Chọn nơi:", "buttons": [{"title": "Thuận Hóa", "payload": payload}]}]
        if m.text == "chọn" else []
    )
    await post(rasa, message_update(1, text="chọn"))
    [sent] = telegram_api.sent("sendMessage")
    data = sent["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    assert len(data.encode()) <= 64
    await post(rasa, callback_update(2, data))
    assert rasa.assistant.received[-1].text == payload


async def test_place_question_gets_a_location_keyboard_and_a_pin_becomes_coordinates(
    rasa, telegram_api
):
    def reply(message):
        if message.text == "báo hỏng":
            return [{"text": "Vấn đề ở đâu ạ?", "custom": {"request_location": True},
                     "buttons": [{"title": "Thuận Hóa", "payload": "Nguyễn Huệ, Thuận Hóa"}]}]
        return [{"text": "Đã nhận vị trí."}]

    rasa.assistant.reply = reply
    await post(rasa, message_update(1, text="báo hỏng"))
    markup = telegram_api.sent("sendMessage")[0]["reply_markup"]
    assert markup["keyboard"] == [
        [{"text": SEND_LOCATION_TITLE, "request_location": True}], [{"text": "Thuận Hóa"}]
    ]
    assert markup["one_time_keyboard"] is True
    # A reply-keyboard button sends its title as text: it still means its payload.
    await post(rasa, message_update(2, text="Thuận Hóa"))
    assert rasa.assistant.received[-1].text == "Nguyễn Huệ, Thuận Hóa"
    await post(rasa, message_update(3, location={"latitude": THUAN_HOA[0], "longitude": THUAN_HOA[1]}))
    pin = rasa.assistant.received[-1]
    assert pin.text == SHARE_LOCATION
    assert pin.metadata["location"] == {"latitude": THUAN_HOA[0], "longitude": THUAN_HOA[1]}
    # The place is answered: the next reply puts the normal keyboard back, once.
    replies = telegram_api.sent("sendMessage")
    assert replies[1]["reply_markup"] == {"remove_keyboard": True}
    assert "reply_markup" not in replies[2]


async def test_photo_largest_size_is_downloaded_and_stored_on_the_backend(rasa, telegram_api):
    telegram_api.files["p1"] = jpeg(gps=THUAN_HOA)
    await post(rasa, message_update(1, photo=photo_sizes("p1"), caption="cột đèn"))
    assert [c[1]["file_id"] for c in telegram_api.calls if c[0] == "getFile"] == ["p1"]
    [message] = rasa.assistant.received
    assert message.text == SEND_PHOTO
    assert message.metadata["caption"] == "cột đèn"
    [photo] = message.metadata["photos"]
    assert photo["exif_location"] == pytest.approx({"latitude": THUAN_HOA[0], "longitude": THUAN_HOA[1]}, abs=1e-4)
    async with aiohttp.ClientSession() as http:
        async with http.get(photo["url"]) as response:
            assert response.status == 200
            stored = await response.read()
    assert stored.startswith(b"\xff\xd8") and b"Exif" not in stored


async def test_exif_position_outside_hue_is_not_offered(rasa, telegram_api):
    telegram_api.files["p1"] = jpeg(gps=HANOI)
    await post(rasa, message_update(1, photo=photo_sizes("p1")))
    [photo] = rasa.assistant.received[0].metadata["photos"]
    assert "exif_location" not in photo


async def test_album_becomes_one_message_and_a_later_text_does_not_overtake_it(
    rasa, telegram_api
):
    for i, color in enumerate(("red", "green", "blue"), start=1):
        telegram_api.files[f"a{i}"] = jpeg(color)
        caption = {"caption": "ba góc"} if i == 1 else {}
        await post(rasa, message_update(i, photo=photo_sizes(f"a{i}"), media_group_id="g1", **caption))
    assert rasa.assistant.received == []  # the album waits for its last photo
    await post(rasa, message_update(9, text="xong"))
    album, text = rasa.assistant.received
    assert album.text == SEND_PHOTO and len(album.metadata["photos"]) == 3
    assert album.metadata["caption"] == "ba góc"
    assert text.text == "xong"


async def test_album_is_sent_after_a_quiet_second(rasa, telegram_api):
    for i in (1, 2):
        telegram_api.files[f"a{i}"] = jpeg()
        await post(rasa, message_update(i, photo=photo_sizes(f"a{i}"), media_group_id="g2"))
    await asyncio.sleep(1.5)
    [album] = rasa.assistant.received
    assert len(album.metadata["photos"]) == 2


async def test_image_sent_as_a_file_is_a_photo_and_other_files_are_not(rasa, telegram_api):
    telegram_api.files["d1"] = jpeg()
    document = {"file_id": "d1", "file_unique_id": "d", "file_name": "den.jpg",
                "mime_type": "image/jpeg"}
    await post(rasa, message_update(1, document=document))
    assert rasa.assistant.received[-1].text == SEND_PHOTO
    pdf = {"file_id": "d2", "file_unique_id": "e", "file_name": "a.pdf",
           "mime_type": "application/pdf"}
    await post(rasa, message_update(2, document=pdf))
    assert len(rasa.assistant.received) == 1
    assert telegram_api.texts()[-1] == UNSUPPORTED


async def test_a_file_that_is_no_image_is_refused_with_a_reason(rasa, telegram_api):
    telegram_api.files["d1"] = b"GIF89a not really"
    document = {"file_id": "d1", "file_unique_id": "d", "mime_type": "image/gif"}
    await post(rasa, message_update(1, document=document))
    assert rasa.assistant.received == []
    assert "JPEG, PNG hoặc WebP" in telegram_api.texts()[-1]


async def test_only_the_citizens_own_contact_fills_the_phone(rasa, telegram_api):
    own = {"phone_number": "+84905123456", "first_name": "Lan", "user_id": CHAT}
    other = {"phone_number": "+84905999999", "first_name": "Hoa", "user_id": 999}
    await post(rasa, message_update(1, contact=own))
    await post(rasa, message_update(2, contact=other))
    [message] = rasa.assistant.received
    assert message.text == SHARE_CONTACT and message.metadata["phone"] == "+84905123456"
    assert "chính bạn" in telegram_api.texts()[-1]


@pytest.mark.parametrize("content", [
    {"sticker": {"file_id": "s", "file_unique_id": "s", "width": 512, "height": 512,
                 "is_animated": False, "is_video": False, "type": "regular"}},
    {"voice": {"file_id": "v", "file_unique_id": "v", "duration": 3}},
    {"video": {"file_id": "v", "file_unique_id": "v", "width": 1, "height": 1, "duration": 3}},
])
async def test_stickers_voice_and_video_get_a_friendly_answer_without_the_assistant(
    rasa, telegram_api, content
):
    await post(rasa, message_update(1, **content))
    assert rasa.assistant.received == []
    assert telegram_api.texts() == [UNSUPPORTED]


async def test_start_command_greets(rasa):
    await post(rasa, message_update(1, text="/start"))
    assert rasa.assistant.received[0].text == "/greet"


async def test_redelivered_update_is_handled_once(rasa):
    await post(rasa, message_update(1, text="xin chào"))
    await post(rasa, message_update(1, text="xin chào"))
    assert len(rasa.assistant.received) == 1


async def test_long_text_is_split_at_lines_within_telegram_limit(rasa, telegram_api):
    line = "Phản ánh số {:04d}: đèn đường hỏng ở kiệt 45 Nguyễn Huệ, phường Thuận Hóa."
    long_text = "\n".join(line.format(i) for i in range(120))
    rasa.assistant.reply = lambda m: [{"text": long_text, "buttons": CATEGORY_BUTTONS[:1]}]
    await post(rasa, message_update(1, text="danh sách"))
    sent = telegram_api.sent("sendMessage")
    assert len(sent) >= 2
    assert all(len(s["text"]) <= 4096 for s in sent)
    assert "\n".join(s["text"] for s in sent) == long_text
    assert "reply_markup" not in sent[0] and "inline_keyboard" in sent[-1]["reply_markup"]


async def test_images_are_sent_as_photos(rasa, telegram_api):
    rasa.assistant.reply = lambda m: [{"image": "http://127.0.0.1:1/media/x.jpg"}]
    await post(rasa, message_update(1, text="ảnh"))
    assert telegram_api.sent("sendPhoto")[0]["photo"] == "http://127.0.0.1:1/media/x.jpg"


async def test_webhook_is_set_on_start_when_a_public_url_is_configured(backend, telegram_api):
    settings = telegram_settings(backend, telegram_api, telegram_public_url="https://bot.example.vn/")
    async with RasaApp(TelegramInput(settings)):
        [call] = telegram_api.sent("setWebhook")
    assert call["url"] == "https://bot.example.vn/webhooks/telegram/webhook"
    assert call["secret_token"] == SECRET
    assert call["allowed_updates"] == ["message", "callback_query"]


async def test_channel_is_off_when_its_variables_are_unset(caplog, backend):
    caplog.set_level(logging.INFO)
    async with RasaApp(TelegramInput(dataclasses.replace(backend, telegram_token=None))) as app:
        assert await post(app, message_update(1, text="xin chào")) == 503
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{app.url}/") as response:
                assert response.status == 200  # the rest of the server runs
    assert app.assistant.received == []
    assert "Telegram channel is off: TELEGRAM_TOKEN and TELEGRAM_WEBHOOK_SECRET are unset" in caplog.text


async def test_the_token_never_reaches_the_logs(caplog, backend, telegram_api):
    caplog.set_level(logging.DEBUG)
    telegram_api.files["p1"] = jpeg()
    bad = dataclasses.replace(telegram_settings(backend, telegram_api), telegram_token=TOKEN + "x")
    async with RasaApp(TelegramInput(bad)):
        pass  # getMe refused: logged without the token
    async with RasaApp(TelegramInput(telegram_settings(backend, telegram_api))) as app:
        app.assistant.reply = lambda m: [{"text": "Dạ", "buttons": CATEGORY_BUTTONS}]
        await post(app, message_update(1, text="xin chào"))
        await post(app, message_update(2, photo=photo_sizes("p1")))
    assert "rejected TELEGRAM_TOKEN" in caplog.text
    assert telegram_api.sent("sendMessage")
    assert "TEST-token" not in caplog.text


async def test_polling_mode_forwards_updates_to_the_webhook(backend, telegram_api):
    settings = telegram_settings(backend, telegram_api)
    telegram_api.updates = [message_update(10, text="xin chào"), callback_update(11, "/affirm")]
    async with RasaApp(TelegramInput(settings)) as app:
        poller = asyncio.ensure_future(poll(dataclasses.replace(settings, rasa_port=app.port)))
        try:
            await eventually(lambda: len(app.assistant.received) == 2, "both updates to be forwarded")
            # The next getUpdates acknowledges both: Telegram will not send them again.
            await eventually(lambda: any(p.get("offset") == "12" for p in telegram_api.sent("getUpdates")),
                             "getUpdates with offset 12")
        finally:
            poller.cancel()
    assert [m.text for m in app.assistant.received] == ["xin chào", "/affirm"]
    methods = [name for name, _ in telegram_api.calls]
    assert methods.index("deleteWebhook") < methods.index("getUpdates")


@pytest.mark.parametrize("body", [b"[]", b"[" * 100_000 + b"]" * 100_000, b"\xff\xfe"])
async def test_a_body_that_is_no_update_is_refused_and_the_channel_goes_on(rasa, telegram_api, body):
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{rasa.url}/webhooks/telegram/webhook", data=body,
                             headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}) as response:
            assert response.status == 400
    assert await post(rasa, message_update(1, text="xin chào")) == 200
    assert [m.text for m in rasa.assistant.received] == ["xin chào"]


@pytest.mark.redis
async def test_two_replicas_on_one_redis_share_buttons_and_handled_updates(backend, telegram_api):
    # Production: several Rasa servers behind one webhook URL, LOCK_STORE_URL on a shared Redis.
    settings = telegram_settings(backend, telegram_api, lock_store_url=REDIS_URL)
    chat = random.randrange(10**9, 2 * 10**9)  # ids of their own: Redis outlives the test
    update = random.randrange(10**9, 2 * 10**9)
    payload = f"kiệt 45 Nguyễn Huệ, phường Thuận Hóa, thành phố Huế ({chat})"  # over 64 bytes
    async with RasaApp(TelegramInput(settings)) as one, RasaApp(TelegramInput(settings)) as two:
        one.assistant.reply = lambda m: [
            {"text": "Vấn đề ở đâu ạ?", "custom": {"request_location": True},
             "buttons": [{"title": "Thuận Hóa", "payload": "/inform_ward"}]},
            {"text": "Hoặc chọn:", "buttons": [{"title": "Kiệt 45", "payload": payload}]},
        ]
        await post(one, message_update(update, chat_id=chat, text="báo hỏng"))
        data = telegram_api.messages(chat)[-1]["reply_markup"]["inline_keyboard"][0][0]["callback_data"]

        # The press reaches the other replica, which still knows what the button means.
        await post(two, callback_update(update + 1, data, chat_id=chat))
        assert [m.text for m in two.assistant.received] == [payload]
        # And the same update redelivered to the first replica is not handled again.
        await post(one, callback_update(update + 1, data, chat_id=chat))
        assert [m.text for m in one.assistant.received] == ["báo hỏng"]

        # A reply-keyboard title typed on one replica after the other showed it.
        one.assistant.reply = lambda m: [{"text": "Vấn đề ở đâu ạ?", "custom": {"request_location": True},
                                          "buttons": [{"title": "Thuận Hóa", "payload": "/inform_ward"}]}]
        await post(one, message_update(update + 2, chat_id=chat, text="báo hỏng"))
        await post(two, message_update(update + 3, chat_id=chat, text="Thuận Hóa"))
        assert two.assistant.received[-1].text == "/inform_ward"


@pytest.mark.redis
async def test_an_album_spread_over_two_replicas_is_one_message_and_a_text_on_either_does_not_overtake_it(
    backend, telegram_api
):
    settings = telegram_settings(backend, telegram_api, lock_store_url=REDIS_URL)
    chat = random.randrange(10**9, 2 * 10**9)  # ids of their own: Redis outlives the test
    update = random.randrange(10**9, 2 * 10**9)
    for i, color in enumerate(("red", "green", "blue"), start=1):
        telegram_api.files[f"r{i}"] = jpeg(color)
    async with RasaApp(TelegramInput(settings)) as one, RasaApp(TelegramInput(settings)) as two:
        replicas = [one, two]
        for i in range(1, 4):
            caption = {"caption": "ba góc"} if i == 2 else {}
            await post(replicas[i % 2], message_update(update + i, chat_id=chat, photo=photo_sizes(f"r{i}"),
                                                       media_group_id=f"g{update}", **caption))
        # The replica whose photo opened the album sends it, whole, once no photo joins it.
        await eventually(lambda: two.assistant.received, "the album sent", timeout_s=10)
        [album] = two.assistant.received
        assert album.text == SEND_PHOTO and len(album.metadata["photos"]) == 3
        assert album.metadata["caption"] == "ba góc" and one.assistant.received == []

        # Another album, then a text on the other replica at once: the album goes first.
        for i in (4, 5):
            telegram_api.files[f"r{i}"] = jpeg()
            await post(one, message_update(update + i, chat_id=chat, photo=photo_sizes(f"r{i}"),
                                           media_group_id=f"h{update}"))
        await post(two, message_update(update + 6, chat_id=chat, text="xong"))
        await asyncio.sleep(1.5)  # the first replica's wait for the album's end is over
        assert [m.text for m in two.assistant.received[1:]] == [SEND_PHOTO, "xong"]
        assert len(two.assistant.received[1].metadata["photos"]) == 2 and one.assistant.received == []


async def test_a_text_too_long_or_a_flood_is_answered_on_telegram_and_never_reaches_the_assistant(
    backend, telegram_api
):
    settings = telegram_settings(backend, telegram_api, sender_messages_per_minute=3)
    async with RasaApp(TelegramInput(settings)) as rasa:
        assert await post(rasa, message_update(1, text="x" * (MAX_TEXT_CHARS + 1))) == 200
        assert [m["text"] for m in telegram_api.sent("sendMessage")] == [TOO_LONG]
        for n in range(2, 7):  # 1 + 5 > 3 in a minute: the citizen is told once, then nothing more
            assert await post(rasa, message_update(n, text="alo")) == 200
        assert [m.text for m in rasa.assistant.received] == ["alo", "alo"]
        assert [m["text"] for m in telegram_api.sent("sendMessage")][1:] == [TOO_FAST]
