"""Category x unit -> the agency that must act, and how long it has.

The rules and the directory are data (backend/data/agencies.yml, whose header explains how to edit
them); this module only reads and checks them, so operators can change who handles what without
touching code. The categories themselves are the shared table of bot/categories.py.
"""
from __future__ import annotations

import datetime
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Dict, FrozenSet, List, Optional, Tuple

import yaml

from bot.area import Unit, load_area
from bot.categories import OTHER, Category, load_categories
from bot.text import fold

AGENCIES_FILE = Path(__file__).resolve().parent / "data" / "agencies.yml"

RULE_KEYS = {"code", "responsible", "fallback", "deadline_days", "overrides"}
UNIT_COMMITTEE = "unit_committee"
UNIT_POLICE = "unit_police"


class DirectoryError(ValueError):
    """agencies.yml is incomplete or inconsistent; the message names the entry."""


@dataclass(frozen=True)
class Agency:
    id: str
    name: str
    contact: Dict[str, str] = field(default_factory=dict, hash=False, compare=False)


@dataclass(frozen=True)
class _Rule:
    responsible: str
    fallback: Optional[str]
    deadline: datetime.timedelta
    overrides: Tuple[Tuple["re.Pattern[str]", str], ...]


class Directory:
    def __init__(self, data: dict, unit_codes: Tuple[str, ...], categories: Tuple[Category, ...]):
        self._unit_codes = unit_codes
        self._categories = categories
        self._fallback = str(data.get("fallback") or "")
        self._bodies: Dict[str, Agency] = {}
        for body in data.get("city_bodies") or []:
            body_id = _required(body, "id", "a city body")
            self._bodies[body_id] = Agency(body_id, _required(body, "name", f"city body {body_id}"),
                                           dict(body.get("contact") or {}))
        self._committees: Dict[str, Agency] = {}
        self._police: Dict[str, Agency] = {}
        for entry in data.get("units") or []:
            code = str(_required(entry, "code", "a unit"))
            self._committees[code] = _agency(f"ubnd_{code}", entry.get("committee"), f"no committee for unit {code}")
            self._police[code] = _agency(f"ca_{code}", entry.get("police"), f"no police for unit {code}")
        self._rules: Dict[str, _Rule] = {}
        for item in data.get("categories") or []:
            code = _required(item, "code", "a category")
            unknown = sorted(set(item) - RULE_KEYS)
            if unknown:
                # Names and descriptions live in bot/data/categories.yml: one copy only.
                raise DirectoryError(f"agencies.yml: category {code} has unknown keys {unknown}")
            self._rules[code] = _Rule(
                responsible=_required(item, "responsible", f"category {code}"),
                fallback=item.get("fallback"),
                deadline=datetime.timedelta(days=float(_required(item, "deadline_days", f"category {code}"))),
                overrides=tuple((_keywords_pattern(_required(o, "keywords", f"an override of {code}")),
                                 _required(o, "responsible", f"an override of {code}"))
                                for o in item.get("overrides") or []),
            )
        self.validate()

    def validate(self) -> None:
        """Raise DirectoryError naming the first missing unit, category or unknown body id."""
        for code in self._unit_codes:
            if code not in self._committees:
                raise DirectoryError(f"agencies.yml: no committee for unit {code}")
        extra = set(self._committees) - set(self._unit_codes)
        if extra:
            raise DirectoryError(f"agencies.yml: unknown unit codes {sorted(extra)}")
        if self._fallback not in self._bodies:
            raise DirectoryError(f"agencies.yml: fallback {self._fallback!r} is not a city body")
        codes = [category.code for category in self._categories]
        for code in codes:
            if code not in self._rules:
                raise DirectoryError(f"agencies.yml: no rule for category {code}")
        unit_kinds = (UNIT_COMMITTEE, UNIT_POLICE)
        for code, rule in self._rules.items():
            if code not in codes:
                raise DirectoryError(f"agencies.yml: {code} is not a category of bot/data/categories.yml")
            targets = [rule.responsible, *(target for _, target in rule.overrides)]
            for target in targets:
                if target not in unit_kinds and target not in self._bodies:
                    raise DirectoryError(f"agencies.yml: category {code} names unknown body {target!r}")
            if rule.fallback is not None and rule.fallback not in self._bodies:
                raise DirectoryError(f"agencies.yml: category {code} falls back to unknown body {rule.fallback!r}")
            if rule.deadline <= datetime.timedelta(0):
                raise DirectoryError(f"agencies.yml: category {code} needs a positive deadline_days")

    def agency_for(self, category: str, unit: Optional[Unit], description: str = "") -> Agency:
        """The body that must act; a city-level body when the place is in no known unit."""
        rule = self._rules.get(category) or self._rules[OTHER]
        target = rule.responsible
        if isinstance(description, str) and description:
            text = fold(description)
            target = next((t for pattern, t in rule.overrides if pattern.search(text)), target)
        if target in self._bodies:
            return self._bodies[target]
        directory = self._committees if target == UNIT_COMMITTEE else self._police
        agency = directory.get(unit.code) if isinstance(unit, Unit) else None
        return agency or self._bodies[rule.fallback or self._fallback]

    def deadline(self, category: str) -> datetime.timedelta:
        return (self._rules.get(category) or self._rules[OTHER]).deadline

    def agency_ids(self) -> FrozenSet[str]:
        """Every agency a report can be routed to, by the id reports keep."""
        return frozenset(agency.id for agency in self._agencies())

    def agency(self, agency_id: str) -> Optional[Agency]:
        """The agency with that id (a report's `agency_id`), None if there is none."""
        return next((agency for agency in self._agencies() if agency.id == agency_id), None)

    def _agencies(self) -> List[Agency]:
        return [*self._bodies.values(), *self._committees.values(), *self._police.values()]

    def categories(self) -> Tuple[Category, ...]:
        """The categories routed, one per Open311 service, in the order citizens see them."""
        return self._categories


def _required(item: dict, key: str, where: str):
    value = item.get(key) if isinstance(item, dict) else None
    if value in (None, "", []):
        raise DirectoryError(f"agencies.yml: {where} has no {key}")
    return value


def _agency(agency_id: str, entry: Any, missing: str) -> Agency:
    if not isinstance(entry, dict) or not entry.get("name"):
        raise DirectoryError(f"agencies.yml: {missing}")
    return Agency(agency_id, entry["name"], dict(entry.get("contact") or {}))


def _keywords_pattern(keywords: List[str]) -> "re.Pattern[str]":
    words = sorted({fold(k) for k in keywords if fold(k)}, key=len, reverse=True)
    body = "|".join(r"\s+".join(map(re.escape, w.split())) for w in words)
    return re.compile(rf"(?<![a-z0-9])(?:{body})(?![a-z0-9])")


@lru_cache(maxsize=None)
def load_directory(path: Optional[Path] = None) -> Directory:
    """The directory in agencies.yml (or `path`), checked against the 40 units and the shared
    categories; parsed once."""
    with open(path or AGENCIES_FILE, encoding="utf-8") as f:
        data = yaml.safe_load(f) or {}
    return Directory(data, tuple(u.code for u in load_area().units), load_categories())
