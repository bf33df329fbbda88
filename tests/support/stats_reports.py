"""A hand-made set of reports whose public figures are worked out by hand (tests of `stats.json`
and of the page `/stats/`), each carrying personal data that must never be published."""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import List, Optional

from backend.schema import Report

JANUARY = {"start_date": "2026-01-01", "end_date": "2026-01-31"}  # Huế time, the whole 31st included
PHU_XUAN, KIM_LONG = "19753", "19774"
# What each report carries that must never be published.
PHONE, ACCOUNT, ADDRESS = "0905123456", "telegram:987654321", "kiệt 45 Nguyễn Huệ"
# ...and the words of the descriptions, comments and device ids, and the channel.
PERSONAL = (PHONE, ACCOUNT, ADDRESS, "riêng", "thiet-bi-", "telegram")


def description(n: int) -> str:
    return f"Mô tả riêng tư số {n} của người dân"


def utc(day: int, hour: int = 8, month: int = 1, year: int = 2026) -> datetime:
    """`hour` o'clock in Huế on that day, as the database keeps it (naive UTC)."""
    return datetime(year, month, day, hour) - timedelta(hours=7)


def report(
    n: int, filed: datetime, code: str, agency: str, unit: str, state: str, *,
    hours: Optional[float] = None, deadline_h: float = 72, rating: Optional[int] = None, reopened: int = 0,
) -> Report:
    return Report(
        service_code=code, description=description(n), lat=16.47, long=107.58, address=ADDRESS,
        ward_code=unit, agency_id=agency, agency_name=f"Cơ quan {agency}", state=state, phone=PHONE,
        account_id=ACCOUNT, device_id=f"thiet-bi-{n}", channel="telegram", requested_at=filed, updated_at=filed,
        expected_at=filed + timedelta(hours=deadline_h),
        resolved_at=filed + timedelta(hours=hours) if hours is not None else None,
        rating=rating, rating_comment=f"Bình luận riêng số {n}" if rating else None, reopened=reopened,
    )


def reports() -> List[Report]:
    """Filed in January unless said: hours to resolve (on time within 72), rating, reopened."""
    return [
        report(1, utc(5), "moi_truong", "ubnd_19753", PHU_XUAN, "resolved", hours=10, rating=5),
        report(2, utc(6), "moi_truong", "ubnd_19753", PHU_XUAN, "resolved", hours=30, rating=2, reopened=1),
        report(3, utc(7), "moi_truong", "ioc", PHU_XUAN, "resolved", hours=100),  # late
        report(4, utc(8), "moi_truong", "ubnd_19753", KIM_LONG, "in_progress"),
        report(5, utc(9), "chieu_sang", "cong_trinh_do_thi", KIM_LONG, "resolved", hours=4, rating=4),
        report(6, utc(10), "chieu_sang", "cong_trinh_do_thi", KIM_LONG, "rejected"),
        # Rated 1 once resolved, so reopened: assigned again, its resolution time cleared.
        report(9, utc(31, 23), "chieu_sang", "cong_trinh_do_thi", KIM_LONG, "assigned", rating=1, reopened=1),
        # Outside January in Huế: the last evening of December, the first minute of February.
        report(7, utc(31, 23, month=12, year=2025), "moi_truong", "ioc", PHU_XUAN, "resolved", hours=1),
        report(8, utc(1, 0, month=2), "moi_truong", "ioc", PHU_XUAN, "resolved", hours=1),
    ]


async def seed(sessions) -> None:
    """Stores `reports()` through the backend's session factory (`app[SESSIONS]`)."""
    async with sessions() as session, session.begin():
        session.add_all(reports())
