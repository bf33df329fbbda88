"""Telegram channel (python-telegram-bot): webhook in, Bot API out.

credentials.yml names `channels.telegram.TelegramInput`; Rasa mounts it at
`/webhooks/telegram/webhook`. Configuration comes from the environment (`bot.settings`): without
TELEGRAM_TOKEN the channel is off and its webhook answers 503.

Replies are sent without parse_mode: the assistant's texts are plain and echo what citizens typed
(addresses full of `_`, `*`, `.`), so with no markup nothing needs escaping and no text can be
refused by Telegram as malformed Markdown.
"""
from __future__ import annotations

import hmac
import json
import logging
from typing import Any, Awaitable, Callable, Dict, Optional, Union

from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from telegram import Bot, Document, PhotoSize, Update
from telegram.error import InvalidToken, TelegramError

from bot.messages import (
    Inbound,
    contact_message,
    location_message,
    photo_message,
    text_message,
)
from bot.photos import MAX_PHOTO_BYTES, PhotoError
from bot.settings import Settings, get_settings
from channels.lru import LRU
from channels.output import native_id, sender_id, split_text
from channels.photos import DOWNLOAD_FAILED, TOO_BIG, store_photo
from channels.tasks import Background, KeyedLocks
from channels.telegram_albums import Album, Albums
from channels.telegram_keyboards import Keyboards

logger = logging.getLogger(__name__)

CHANNEL = "telegram"
WEBHOOK_PATH = "/webhooks/telegram/webhook"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
ALLOWED_UPDATES = ["message", "callback_query"]
TEXT_LIMIT = 4096
ALBUM_QUIET_S = 1.0

UNSUPPORTED = (
    "Mình chỉ nhận tin nhắn chữ, ảnh và vị trí. Bạn gửi ảnh hoặc gõ nội dung giúp mình nhé."
)
NOT_OWN_CONTACT = "Mình chỉ nhận số điện thoại của chính bạn, không nhận số của người khác nhé."
OLD_BUTTON = "Nút này đã cũ, bạn gõ câu trả lời giúp mình nhé."
FAILED = "Xin lỗi, mình đang gặp sự cố. Bạn thử lại sau ít phút nhé."
CHOOSE = "Mời bạn chọn:"

OnNewMessage = Callable[[UserMessage], Awaitable[Any]]


def off_reason(settings: Settings) -> Optional[str]:
    if not settings.telegram_token:
        return "TELEGRAM_TOKEN is unset"
    if not settings.telegram_webhook_secret:
        return "TELEGRAM_WEBHOOK_SECRET is unset (without it anyone could post fake updates)"
    if not settings.telegram_api_base_url.rstrip("/").endswith("/bot"):
        return "TELEGRAM_API_BASE_URL must end with /bot, like https://api.telegram.org/bot"
    return None


def make_bot(settings: Settings) -> Bot:
    base = settings.telegram_api_base_url.rstrip("/")
    # Bot API servers (the public one and self-hosted ones) serve files under /file/bot<token>.
    return Bot(settings.telegram_token, base_url=base, base_file_url=base[: -len("bot")] + "file/bot")


def keep_token_out_of_logs() -> None:
    # The token is part of every Bot API URL, which httpx logs at INFO and PTB at DEBUG.
    for name in ("httpx", "httpcore", "telegram"):
        logging.getLogger(name).setLevel(logging.WARNING)


class Redactor:
    def __init__(self, token: str) -> None:
        self._token = token

    def __call__(self, error: BaseException) -> str:
        return str(error).replace(self._token, "<TELEGRAM_TOKEN>")


class TelegramOutput(OutputChannel):
    @classmethod
    def name(cls) -> str:
        return CHANNEL

    def __init__(self, bot: Bot, keyboards: Keyboards, redact: Redactor) -> None:
        self.bot = bot
        self.keyboards = keyboards
        self.redact = redact

    async def send_response(self, recipient_id: str, message: Dict[str, Any]) -> None:
        chat_id = native_id(recipient_id)
        buttons = message.get("buttons") or message.get("quick_replies") or []
        asks_place = bool((message.get("custom") or {}).get("request_location"))
        markup = self.keyboards.for_message(chat_id, buttons, asks_place)
        pieces = split_text(message.get("text") or "", TEXT_LIMIT)
        if not pieces and (buttons or asks_place):
            pieces = [CHOOSE]  # a keyboard needs a message to hang on
        try:
            for i, piece in enumerate(pieces, start=1):
                await self.bot.send_message(
                    chat_id, piece, reply_markup=markup if i == len(pieces) else None
                )
            if message.get("image"):
                await self.bot.send_photo(
                    chat_id, message["image"], reply_markup=None if pieces else markup
                )
        except TelegramError as exc:
            # One failed reply (blocked bot, deleted chat) must not break the conversation turn.
            logger.error("Telegram: sending to chat %s failed: %s", chat_id, self.redact(exc))

    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        await self.send_response(recipient_id, {"text": text})


class TelegramInput(InputChannel):
    @classmethod
    def name(cls) -> str:
        return CHANNEL

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[str, Any]]) -> "TelegramInput":
        # credentials.yml lists the channel without config: everything comes from the environment.
        return cls(get_settings())

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.off_reason = off_reason(settings)
        self.updates: Optional[UpdateHandler] = None
        if self.off_reason:
            logger.info("Telegram channel is off: %s", self.off_reason)
            return
        keep_token_out_of_logs()
        self.updates = UpdateHandler(settings)

    def get_output_channel(self) -> Optional[OutputChannel]:
        return self.updates.output if self.updates else None

    def blueprint(self, on_new_message: OnNewMessage) -> Blueprint:
        bp = Blueprint("hue_telegram", __name__)

        @bp.route("/", methods=["GET"])
        async def health(_: Request) -> response.HTTPResponse:
            return response.json({"status": "off" if self.off_reason else "ok"})

        @bp.route("/webhook", methods=["POST"])
        async def webhook(request: Request) -> response.HTTPResponse:
            if self.updates is None:
                return response.json({"error": "the Telegram channel is off"}, status=503)
            given = request.headers.get(SECRET_HEADER)
            if not given:
                return response.json({"error": "missing secret token"}, status=401)
            expected = self.settings.telegram_webhook_secret or ""
            if not hmac.compare_digest(given.encode(), expected.encode()):
                return response.json({"error": "wrong secret token"}, status=403)
            try:
                update = Update.de_json(json.loads(request.body), self.updates.bot)
            except (ValueError, TypeError, KeyError, AttributeError):
                return response.json({"error": "not a Telegram update"}, status=400)
            await self.updates.handle(update, on_new_message)
            return response.json({"ok": True})

        if self.updates is not None:
            bp.listener("before_server_start")(self._start)
            bp.listener("after_server_stop")(self._stop)
        return bp

    async def _start(self, *_: Any) -> None:
        await self.updates.start(self.settings.telegram_public_url)

    async def _stop(self, *_: Any) -> None:
        await self.updates.stop()


class UpdateHandler:
    """Telegram updates to `bot.messages` messages for the assistant, in the order sent."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.bot = make_bot(settings)
        self.redact = Redactor(settings.telegram_token or "")
        self.keyboards = Keyboards()
        self.output = TelegramOutput(self.bot, self.keyboards, self.redact)
        self.albums = Albums(ALBUM_QUIET_S)
        self.background = Background()
        self.chat_locks = KeyedLocks()
        self.seen_updates: LRU[bool] = LRU()  # Telegram redelivers an update it saw no answer to
        self.on_new_message: Optional[OnNewMessage] = None

    async def start(self, public_url: Optional[str]) -> None:
        try:
            await self.bot.initialize()  # getMe: checks the token
        except InvalidToken:
            logger.error("Telegram channel: the Bot API rejected TELEGRAM_TOKEN")
            return
        except TelegramError as exc:
            logger.error("Telegram channel: Bot API unreachable at start: %s", self.redact(exc))
            return
        logger.info("Telegram channel on, bot @%s", self.bot.username)
        if not public_url:
            return
        url = public_url.rstrip("/") + WEBHOOK_PATH
        try:
            await self.bot.set_webhook(
                url, secret_token=self.settings.telegram_webhook_secret,
                allowed_updates=ALLOWED_UPDATES,
            )
            logger.info("Telegram webhook set to %s", url)
        except TelegramError as exc:
            logger.error("Telegram: setting the webhook to %s failed: %s", url, self.redact(exc))

    async def stop(self) -> None:
        await self.background.drain()
        await self.bot.shutdown()

    async def handle(self, update: Update, on_new_message: OnNewMessage) -> None:
        self.on_new_message = on_new_message
        if not self.seen_updates.first_time(update.update_id):
            return
        who = _who(update)
        if who is None:
            return  # edits, channel posts, polls...: nothing for the assistant
        chat_id, user_id = who
        try:
            await self._handle(update, chat_id, user_id)
        except Exception:  # noqa: BLE001 - Telegram must get its 200, the citizen an answer
            logger.exception("Telegram update %s of chat %s failed", update.update_id, chat_id)
            await self.reply(chat_id, FAILED)

    async def _handle(self, update: Update, chat_id: str, user_id: str) -> None:
        where = {"channel": CHANNEL, "user_id": user_id}
        query = update.callback_query
        if query is not None:
            await query.answer()  # stops the spinner on the citizen's button
            payload = self.keyboards.pressed(query.data or "")
            if payload is None:
                await self.reply(chat_id, OLD_BUTTON)
            else:
                await self.deliver(chat_id, text_message(payload, **where))
            return
        message = update.message
        image = _image_of(message)
        if image is not None:
            await self._photo(update, image, chat_id, user_id)
            return
        inbound = self._inbound(update, chat_id, user_id)
        if isinstance(inbound, Inbound):
            await self.deliver(chat_id, inbound)
        else:
            await self.reply(chat_id, inbound)

    def _inbound(self, update: Update, chat_id: str, user_id: str) -> Union[Inbound, str]:
        """The message for the assistant, or the answer the channel gives on its own."""
        message = update.message
        where = {"channel": CHANNEL, "user_id": user_id}
        if message.location:
            return location_message(message.location.latitude, message.location.longitude, **where)
        if message.contact:
            # Only a number the citizen chose to share about themselves, never someone else's.
            if message.from_user and message.contact.user_id == message.from_user.id:
                return contact_message(message.contact.phone_number, **where)
            return NOT_OWN_CONTACT
        if message.text:
            if message.text.split()[0].split("@")[0] == "/start":
                return text_message("/greet", **where)  # a bot's first message on Telegram
            text = self.keyboards.typed(chat_id, message.text) or message.text
            return text_message(text, **where)
        return UNSUPPORTED

    async def _photo(
        self, update: Update, image: Union[PhotoSize, Document], chat_id: str, user_id: str
    ) -> None:
        message = update.message
        try:
            photo = await store_photo(await self._download(image, update), self.settings)
        except PhotoError as exc:
            await self.reply(chat_id, str(exc))
            return
        caption = message.caption or ""
        group = message.media_group_id
        if group is None:
            await self.deliver(
                chat_id, photo_message([photo], caption=caption, channel=CHANNEL, user_id=user_id)
            )
        elif self.albums.add(group, chat_id, user_id, photo, caption):
            self.background.spawn(
                self._close_album(group, chat_id), f"Telegram album {group} of chat {chat_id}"
            )

    async def _download(self, image: Union[PhotoSize, Document], update: Update) -> bytes:
        if (image.file_size or 0) > MAX_PHOTO_BYTES:
            raise PhotoError(TOO_BIG)
        try:
            file = await image.get_file()
            return bytes(await file.download_as_bytearray())
        except TelegramError as exc:
            logger.error(
                "Telegram update %s: downloading a photo failed: %s",
                update.update_id, self.redact(exc),
            )
            raise PhotoError(DOWNLOAD_FAILED) from exc

    async def _close_album(self, group: str, chat_id: str) -> None:
        await self.albums.quiet(group)
        async with self.chat_locks(chat_id):
            for album in self.albums.take(group):
                await self._to_rasa(chat_id, _album_message(album))

    async def deliver(self, chat_id: str, inbound: Inbound) -> None:
        async with self.chat_locks(chat_id):
            for album in self.albums.take_chat(chat_id):
                await self._to_rasa(chat_id, _album_message(album))
            await self._to_rasa(chat_id, inbound)

    async def _to_rasa(self, chat_id: str, inbound: Inbound) -> None:
        message = UserMessage(
            inbound.text, self.output, sender_id(CHANNEL, chat_id),
            input_channel=CHANNEL, metadata=inbound.metadata,
        )
        try:
            await self.on_new_message(message)
        except Exception:  # noqa: BLE001 - the citizen gets an answer whatever failed
            logger.exception("Telegram chat %s: the assistant failed on a message", chat_id)
            await self.reply(chat_id, FAILED)

    async def reply(self, chat_id: str, text: str) -> None:
        await self.output.send_response(chat_id, {"text": text})


def _who(update: Update) -> Optional[tuple]:
    """(chat id, user id) as strings, or None for updates that are not a citizen's."""
    if update.callback_query is not None:
        query = update.callback_query
        chat = query.message.chat.id if query.message else query.from_user.id
        return str(chat), str(query.from_user.id)
    if update.message is not None:
        message = update.message
        user = message.from_user.id if message.from_user else message.chat.id
        return str(message.chat.id), str(user)
    return None


def _image_of(message: Any) -> Optional[Union[PhotoSize, Document]]:
    if message.photo:
        return max(message.photo, key=lambda size: size.width * size.height)
    document = message.document
    if document is not None and (document.mime_type or "").startswith("image/"):
        return document  # sent "as a file", uncompressed; its content is checked like any photo
    return None


def _album_message(album: Album) -> Inbound:
    return photo_message(
        album.photos, caption=album.caption, channel=CHANNEL, user_id=album.user_id
    )
