"""Points in and outside Huế, named for where they are (latitude, longitude)."""
from __future__ import annotations

PHU_XUAN = (16.4785, 107.577)  # label point of Phường Phú Xuân, beside the Citadel
THUAN_HOA = (16.4637, 107.5909)  # Phường Thuận Hóa, south bank of the Perfume River
DA_NANG = (16.0544, 108.2022)  # outside Huế, the neighbouring city
HANOI = (21.0285, 105.8542)  # far outside Huế
