"""The Zalo Official Account channel: signed webhook in, OA message API out.

credentials.yml names `channels.zalo.channel.ZaloInput`; Rasa mounts it at
`/webhooks/zalo/webhook`. Zalo has no polling mode: the webhook needs a public https URL.
"""
