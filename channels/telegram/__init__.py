"""The Telegram channel (python-telegram-bot): webhook in, Bot API out.

credentials.yml names `channels.telegram.channel.TelegramInput`; Rasa mounts it at
`/webhooks/telegram/webhook`. For development without a public URL, `python -m
channels.telegram.poll` fetches the updates and posts them to that webhook.
"""
