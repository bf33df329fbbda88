"""Telegram updates to `bot.messages` messages for the assistant, each chat's in the order sent."""
from __future__ import annotations

import logging
from typing import Any, Awaitable, Callable, Optional, Tuple, Union

from rasa.core.channels.channel import UserMessage
from telegram import CallbackQuery, Document, Message, PhotoSize, Update
from telegram.error import InvalidToken, TelegramError

from bot.messages import (
    Inbound,
    contact_message,
    location_message,
    photo_message,
    text_message,
)
from bot.photos import MAX_PHOTO_BYTES, PhotoError
from bot.settings import Settings
from channels.limits import InboundLimits
from channels.output import sender_id
from channels.photos import DOWNLOAD_FAILED, TOO_BIG, store_photo
from channels.state import ChannelState
from channels.tasks import Background, KeyedLocks
from channels.telegram.albums import Album, Albums
from channels.telegram.api import ALLOWED_UPDATES, CHANNEL, WEBHOOK_PATH
from channels.telegram.replies import TelegramOutput

logger = logging.getLogger(__name__)

ALBUM_QUIET_S = 1.0
# Telegram keeps redelivering an update it got no answer to for up to a day: its id is kept that
# long in the channels' shared state, so a redelivery to another replica or after a restart is
# still recognised.
REDELIVERY_S = 24 * 3600

UNSUPPORTED = (
    "Mình chỉ nhận tin nhắn chữ, ảnh và vị trí. Bạn gửi ảnh hoặc gõ nội dung giúp mình nhé."
)
NOT_OWN_CONTACT = "Mình chỉ nhận số điện thoại của chính bạn, không nhận số của người khác nhé."
OLD_BUTTON = "Nút này đã cũ, bạn gõ câu trả lời giúp mình nhé."
FAILED = "Xin lỗi, mình đang gặp sự cố. Bạn thử lại sau ít phút nhé."

OnNewMessage = Callable[[UserMessage], Awaitable[Any]]
Image = Union[PhotoSize, Document]


class UpdateHandler:
    def __init__(
        self, settings: Settings, output: TelegramOutput, state: ChannelState, on_new_message: OnNewMessage
    ) -> None:
        self.settings = settings
        self.output = output
        self.state = state
        self.bot = output.bot
        self.on_new_message = on_new_message
        self.albums = Albums(state, output.keyboards.namespace, ALBUM_QUIET_S)
        self.background = Background()
        self.chat_locks = KeyedLocks()
        self.limits = InboundLimits(settings, CHANNEL, state)

    async def start(self) -> None:
        redact = self.output.redact
        try:
            await self.bot.initialize()  # getMe: checks the token
        except InvalidToken:
            logger.error("Telegram channel: the Bot API rejected TELEGRAM_TOKEN")
            return
        except TelegramError as exc:
            logger.error("Telegram channel: Bot API unreachable at start: %s", redact(exc))
            return
        logger.info("Telegram channel on, bot @%s", self.bot.username)
        public_url = self.settings.telegram_public_url
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
            logger.error("Telegram: setting the webhook to %s failed: %s", url, redact(exc))

    async def stop(self) -> None:
        await self.background.drain()
        await self.bot.shutdown()
        await self.state.close()

    async def handle(self, update: Update) -> None:
        if not await self.state.add(f"{self.output.keyboards.namespace}:update:{update.update_id}", REDELIVERY_S):
            return
        who = _who(update)
        if who is None:
            return  # edits, channel posts, polls...: nothing for the assistant
        chat_id, user_id = who
        try:
            refusal = await self.limits.message(
                sender_id(CHANNEL, chat_id), update.message.text if update.message else None
            )
            if refusal:
                if not refusal.repeated:
                    await self.reply(chat_id, refusal.text)
            elif update.callback_query is not None:
                await self._pressed(update.callback_query, chat_id, user_id)
            elif update.message is not None:
                await self._message(update.message, chat_id, user_id)
        except Exception:  # noqa: BLE001 - Telegram must get its 200, the citizen an answer
            logger.exception("Telegram update %s of chat %s failed", update.update_id, chat_id)
            await self.reply(chat_id, FAILED)

    async def _pressed(self, query: CallbackQuery, chat_id: str, user_id: str) -> None:
        await query.answer()  # stops the spinner on the citizen's button
        payload = await self.output.keyboards.pressed(query.data or "")
        if payload is None:
            await self.reply(chat_id, OLD_BUTTON)
        else:
            await self.deliver(chat_id, text_message(payload, channel=CHANNEL, user_id=user_id))

    async def _message(self, message: Message, chat_id: str, user_id: str) -> None:
        image = _image_of(message)
        if image is not None:
            await self._photo(message, image, chat_id, user_id)
            return
        inbound = await self._inbound(message, chat_id, user_id)
        if isinstance(inbound, Inbound):
            await self.deliver(chat_id, inbound)
        else:
            await self.reply(chat_id, inbound)

    async def _inbound(self, message: Message, chat_id: str, user_id: str) -> Union[Inbound, str]:
        """The message for the assistant, or the answer the channel gives on its own."""
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
            text = await self.output.keyboards.typed(chat_id, message.text) or message.text
            return text_message(text, **where)
        return UNSUPPORTED

    async def _photo(self, message: Message, image: Image, chat_id: str, user_id: str) -> None:
        refusal = await self.limits.photos(sender_id(CHANNEL, chat_id))
        if refusal:
            if not refusal.repeated:
                await self.reply(chat_id, refusal.text)
            return
        try:
            photo = await store_photo(await self._download(image, chat_id), self.settings)
        except PhotoError as exc:
            await self.reply(chat_id, str(exc))
            return
        caption = message.caption or ""
        group = message.media_group_id
        if group is None:
            await self.deliver(
                chat_id, photo_message([photo], caption=caption, channel=CHANNEL, user_id=user_id)
            )
        elif await self.albums.add(group, chat_id, user_id, photo, caption):
            self.background.spawn(
                self._close_album(group, chat_id), f"Telegram album {group} of chat {chat_id}"
            )

    async def _download(self, image: Image, chat_id: str) -> bytes:
        if (image.file_size or 0) > MAX_PHOTO_BYTES:
            raise PhotoError(TOO_BIG)
        try:
            file = await image.get_file()
            return bytes(await file.download_as_bytearray())
        except TelegramError as exc:
            logger.error(
                "Telegram chat %s: downloading a photo failed: %s", chat_id, self.output.redact(exc)
            )
            raise PhotoError(DOWNLOAD_FAILED) from exc

    async def _close_album(self, group: str, chat_id: str) -> None:
        await self.albums.quiet(group)
        async with self.chat_locks(chat_id):
            for album in await self.albums.take(group, chat_id):
                await self._to_rasa(chat_id, _album_message(album))

    async def deliver(self, chat_id: str, inbound: Inbound) -> None:
        async with self.chat_locks(chat_id):
            for album in await self.albums.take_chat(chat_id):
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


def _who(update: Update) -> Optional[Tuple[str, str]]:
    """(chat id, user id) as strings, or None for updates that are not a citizen's."""
    query = update.callback_query
    if query is not None:
        chat = query.message.chat.id if query.message else query.from_user.id
        return str(chat), str(query.from_user.id)
    message = update.message
    if message is not None:
        user = message.from_user.id if message.from_user else message.chat.id
        return str(message.chat.id), str(user)
    return None


def _image_of(message: Message) -> Optional[Image]:
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
