"""The spec's report categories, one table for everyone: bot/data/categories.yml.

The routing backend serves them as its services.json and routes by their codes; the assistant
offers them when the Open311 server it reports to cannot tell its own (bot/services.py).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Dict, List, Tuple

import yaml

CATEGORIES_FILE = Path(__file__).resolve().parent / "data" / "categories.yml"

# "None of the above": operators triage it, so whatever fits no rule is handled as this.
OTHER = "khac"
DEFAULT_NEARBY_RADIUS_M = 250.0


class CategoriesError(ValueError):
    """categories.yml is incomplete or inconsistent; the message names the entry."""


@dataclass(frozen=True)
class Category:
    code: str
    name: str
    description: str
    keywords: Tuple[str, ...]
    # How far an open report of this category may be and still be the same problem (the
    # duplicate offer): FixMyStreet's 250 m unless the entry says `nearby_radius_m`.
    nearby_radius_m: float = DEFAULT_NEARBY_RADIUS_M


def _category(item: Any) -> Category:
    if not isinstance(item, dict):
        raise CategoriesError(f"categories.yml: {item!r} is not a category")
    where = item.get("code") or repr(item)
    for key in ("code", "name", "description", "keywords"):
        if not item.get(key):
            raise CategoriesError(f"categories.yml: category {where} has no {key}")
    radius = item.get("nearby_radius_m", DEFAULT_NEARBY_RADIUS_M)
    if isinstance(radius, bool) or not isinstance(radius, (int, float)) or radius <= 0:
        raise CategoriesError(f"categories.yml: category {where} has a nearby_radius_m that is not metres above 0")
    return Category(str(item["code"]), str(item["name"]), str(item["description"]),
                    tuple(str(keyword) for keyword in item["keywords"]), float(radius))


@lru_cache(maxsize=None)
def load_categories(path: Path = CATEGORIES_FILE) -> Tuple[Category, ...]:
    """The categories in the order citizens see them; parsed and checked once."""
    with open(path, encoding="utf-8") as f:
        data = yaml.safe_load(f) or []
    if not isinstance(data, list):
        raise CategoriesError("categories.yml: expected a list of categories")
    categories: List[Category] = [_category(item) for item in data]
    codes = [category.code for category in categories]
    repeated = sorted({code for code in codes if codes.count(code) > 1})
    if repeated:
        raise CategoriesError(f"categories.yml: codes listed twice: {repeated}")
    if OTHER not in codes:
        raise CategoriesError(f"categories.yml: no catch-all category {OTHER}")
    return tuple(categories)


def category_names() -> Dict[str, str]:
    """code -> name of the shipped categories, in the order citizens see them."""
    return {category.code: category.name for category in load_categories()}
