"""What admins do to make the assistant understand more: the inbox of messages it did not
understand, labelling them into the training data, retraining behind a gate on the held-out set,
putting a model live and rolling back; served to the console over HTTP (`bot.admin.server`) and
to scripts as `python -m bot.cli admin ...`."""
