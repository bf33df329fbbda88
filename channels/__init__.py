"""Rasa input/output channels (Telegram, Zalo, web chat) and what they share.

Channels turn a platform's messages into `bot.messages` messages and Rasa's replies into the
platform's API calls; nothing outside this package knows which platform a citizen used.
"""
