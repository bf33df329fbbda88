"""Photos attached to reports: upload (checked, EXIF stripped), stored under a random name, served.

Names are random rather than derived from the content so that a URL cannot be guessed from a
photo someone else holds; the URL stays valid as long as the file is kept: for good once a report
references it, a day otherwise (`sweep`).
"""
from __future__ import annotations

import asyncio
import re
import secrets
import time
from pathlib import Path
from typing import Iterable, List, Optional

from bot import photos

NAME = re.compile(r"^[A-Za-z0-9_-]{22}\.(?:jpg|png|webp)$")
CONTENT_TYPES = {ext: content_type for content_type, ext in photos.EXTENSIONS.items()}


class MediaStore:
    def __init__(self, directory: Path, public_base_url: str) -> None:
        self.directory = directory
        self.public_base_url = public_base_url.rstrip("/")

    def _write(self, data: bytes) -> str:
        content_type = photos.check(data)
        clean = photos.strip_exif(data)
        name = f"{secrets.token_urlsafe(16)}.{photos.EXTENSIONS[content_type]}"
        self.directory.mkdir(parents=True, exist_ok=True)
        partial = self.directory / f".{name}.part"
        partial.write_bytes(clean)
        partial.replace(self.directory / name)  # readers never see half a file
        return name

    async def save(self, data: bytes) -> str:
        """The public URL of the stored photo; PhotoError when it is not an acceptable photo."""
        # Decoding and re-encoding a 10 MB photo takes a while: keep the event loop free.
        name = await asyncio.get_running_loop().run_in_executor(None, self._write, data)
        return f"{self.public_base_url}/media/{name}"

    def path_of(self, name: str) -> Optional[Path]:
        if not NAME.match(name):
            return None
        path = self.directory / name
        return path if path.is_file() else None

    def older_than(self, seconds: float) -> List[str]:
        """The names of the photos stored more than `seconds` ago."""
        if not self.directory.is_dir():
            return []
        before = time.time() - seconds
        return sorted(
            path.name for path in self.directory.iterdir()
            if NAME.match(path.name) and path.stat().st_mtime < before
        )

    def remove(self, names: Iterable[str]) -> None:
        for name in names:
            path = self.path_of(name)
            if path is not None:
                path.unlink(missing_ok=True)
