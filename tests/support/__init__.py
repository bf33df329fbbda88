"""What the tests share, one module per job (import it as `tests.support.<module>`).

- `places`: points in and outside Huế.
- `images`: small real photos, with the EXIF a phone writes when asked.
- `servers`: free ports, an aiohttp app on one, a base for stand-ins of web services, an event
  loop in a thread of its own, waiting until something has happened.
- `services`: PostgreSQL, Redis, Chromium: tests marked `postgres`, `redis` or `browser` skip
  on a developer's machine without them and fail under CI=true (applied in tests/conftest.py).
- `rasa_app`: Rasa's app factory serving one channel, a scripted assistant in place of the model.
- `telegram`, `zalo`: stand-ins of the platforms' APIs, and what the platforms post to webhooks.
- `open311`: the routing backend on a port of its own, or reports filed on it from a test.
- `stack`: the project's commands as subprocesses (`run_module`), the whole assistant
  (`running_stack`) with what its backend keeps.
- `conversation`: citizens that file a report through the REST channel, Telegram or Zalo.
- `trackers`: hand-built Rasa trackers for the custom actions, and the slots they hold.
- `tracker_store`: citizens' messages written into Rasa's SQL tracker store, as the Rasa server
  keeps them, for what reads the store (the admins' inbox).
"""
