"""Tables of the routing backend, in FixMyStreet's words: a report is routed to an agency (body).

A report keeps the agency it was routed to by id *and* name, so that editing the directory later
does not rewrite who was responsible for past reports. The citizen-facing `status` is derived from
the internal `state` (see `lifecycle`), never stored, so the two cannot disagree.
"""
from __future__ import annotations

from typing import Any

from sqlalchemy import Column, DateTime, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import declarative_base, relationship

from bot.report_codes import format_report_code

# SQLAlchemy 1.4 ships no types: the declarative base is opaque to mypy.
Base: Any = declarative_base()


class Report(Base):
    __tablename__ = "reports"
    # AUTOINCREMENT on SQLite, a sequence on PostgreSQL: ids (hence codes) are never reused.
    __table_args__ = {"sqlite_autoincrement": True}

    id = Column(Integer, primary_key=True, autoincrement=True)
    service_code = Column(String(32), nullable=False, index=True)
    description = Column(Text, nullable=False)
    lat = Column(Float)
    long = Column(Float)
    address = Column(String(500))
    ward_code = Column(String(8), nullable=False)
    agency_id = Column(String(64), nullable=False)
    agency_name = Column(String(200), nullable=False)
    state = Column(String(16), nullable=False, index=True)
    status_notes = Column(Text)
    phone = Column(String(32))
    device_id = Column(String(128), index=True)
    account_id = Column(String(128), index=True)
    channel = Column(String(32))
    # The caller's key for this report (extension): a repeated create answers the stored report.
    # A unique index rather than a constraint, so SQLite adds it without copying the table.
    idempotency_key = Column(String(64), index=True, unique=True)
    # Naive UTC everywhere: SQLite has no time zones and PostgreSQL must agree with it.
    requested_at = Column(DateTime, nullable=False, index=True)
    updated_at = Column(DateTime, nullable=False)
    expected_at = Column(DateTime, nullable=False)
    # Set when the report becomes resolved, cleared when the citizen reopens it: the start of the
    # window within which a low rating or "not fixed" reopens it.
    resolved_at = Column(DateTime)
    rating = Column(Integer)  # 1-5, the citizen's, once the report is resolved
    rating_comment = Column(Text)
    rated_at = Column(DateTime)
    reopened = Column(Integer, nullable=False, default=0, server_default="0")  # times reopened
    # Citizens who follow it instead of filing the same problem again (rows in report_follows).
    followers = Column(Integer, nullable=False, default=0, server_default="0")

    media = relationship(
        "ReportMedia", order_by="ReportMedia.position", lazy="selectin", cascade="all, delete-orphan"
    )
    # Loaded with the report (one query for a whole list): every request's JSON carries its history.
    updates = relationship(
        "ReportUpdate", order_by="ReportUpdate.id", lazy="selectin", cascade="all, delete-orphan"
    )

    @property
    def code(self) -> str:
        return format_report_code(self.id)


class ReportMedia(Base):
    __tablename__ = "report_media"
    __table_args__ = (UniqueConstraint("report_id", "position"),)

    id = Column(Integer, primary_key=True, autoincrement=True)
    report_id = Column(Integer, ForeignKey("reports.id", ondelete="CASCADE"), nullable=False)
    position = Column(Integer, nullable=False)
    url = Column(String(1000), nullable=False)


class ReportUpdate(Base):
    """One change of a report, citizen-visible: its history and the updates feed (`update_id`).

    Creation writes none (the history starts at `requested_at`). The agency is copied, like the
    report's, so that the history keeps who was responsible at each step.
    """

    __tablename__ = "report_updates"
    __table_args__ = {"sqlite_autoincrement": True}  # feed readers remember the last id they saw

    id = Column(Integer, primary_key=True, autoincrement=True)
    report_id = Column(Integer, ForeignKey("reports.id", ondelete="CASCADE"), nullable=False, index=True)
    created_at = Column(DateTime, nullable=False, index=True)
    state = Column(String(16), nullable=False)  # the state after the change
    agency_id = Column(String(64), nullable=False)
    agency_name = Column(String(200), nullable=False)
    note = Column(Text)
    media_url = Column(String(1000))
    actor = Column(String(64), nullable=False)  # operator, agency:<id>, citizen, system
    kind = Column(String(16), nullable=False)  # state, reassign, reopen, rating


class ReportFollow(Base):
    """An account that follows a report filed by someone else (the duplicate offer): one row per
    account and report, so following twice counts once."""

    __tablename__ = "report_follows"
    __table_args__ = (UniqueConstraint("report_id", "account_id"),)

    id = Column(Integer, primary_key=True, autoincrement=True)
    report_id = Column(Integer, ForeignKey("reports.id", ondelete="CASCADE"), nullable=False)
    account_id = Column(String(128), nullable=False)
    created_at = Column(DateTime, nullable=False)
