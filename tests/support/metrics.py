"""What a process's `/metrics` says (bot/metrics.py), read as Prometheus reads it.

    before = await scrape(f"{stack.rasa_url}/metrics")
    ...what a citizen does...
    after = await scrape(f"{stack.rasa_url}/metrics")
    assert after.moved(before, "hue_messages_total", channel="web") == 4
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, FrozenSet, Tuple

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

Key = Tuple[str, FrozenSet[Tuple[str, str]]]


@dataclass(frozen=True)
class Scrape:
    samples: Dict[Key, float]

    def total(self, name: str, **labels: str) -> float:
        """The sum of the samples `name` whose labels include `labels` (0 when there is none)."""
        wanted = set(labels.items())
        return sum(value for (sample, have), value in self.samples.items() if sample == name and wanted <= have)

    def moved(self, before: "Scrape", name: str, **labels: str) -> float:
        """How much `total(name, **labels)` grew since `before`."""
        return self.total(name, **labels) - before.total(name, **labels)

    def has(self, name: str) -> bool:
        return any(sample == name for sample, _ in self.samples)


def parse(text: str) -> Scrape:
    return Scrape({(sample.name, frozenset(sample.labels.items())): sample.value
                   for family in text_string_to_metric_families(text) for sample in family.samples})


async def scrape(url: str) -> Scrape:
    """GET `url` (a /metrics), which must answer 200 in Prometheus's text format."""
    async with aiohttp.ClientSession() as http, http.get(url, timeout=aiohttp.ClientTimeout(total=10)) as response:
        body = await response.text()
        assert response.status == 200, body
        assert response.headers["Content-Type"].startswith("text/plain"), response.headers
    return parse(body)
