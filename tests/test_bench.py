"""`python -m bench`: the fold files keep categories, and the REST part prints figures."""
from __future__ import annotations

import json

import pytest
from rasa.shared.nlu.training_data.loading import load_data

from bench.nlu import load_training_data, write_nlu
from bot.nlu.category import category_of
from tests.support import services
from tests.support.stack import run_module


def test_fold_files_keep_each_examples_category(tmp_path):
    # Rasa's own writer would give every complaint the category of the first block.
    data = load_training_data()
    write_nlu(tmp_path / "fold.yml", data.intent_examples, data)
    written = load_data(str(tmp_path / "fold.yml"))
    expected = sorted((m.get("text"), m.get("intent"), category_of(m) or "") for m in data.intent_examples)
    got = sorted((m.get("text"), m.get("intent"), category_of(m) or "") for m in written.intent_examples)
    assert got == expected
    assert written.regex_features == data.regex_features
    assert written.entity_synonyms == data.entity_synonyms


@pytest.mark.slow
def test_rest_part_prints_one_json_line_per_figure():
    # The whole stack, a couple of conversations per level; the stock assistant is not built.
    result = run_module("bench", "--only", "rest", "--skip-stock", "--rounds", "1", "--concurrency", "1,2",
                        "--time-limit", "30", timeout_s=240)
    assert result.returncode == 0, result.stderr[-3000:]
    figures = [json.loads(line) for line in result.stdout.splitlines()]
    assert [f["name"] for f in figures] == [
        f"rest.ours.c{c}.{figure}"
        for c in (1, 2) for figure in ("latency.p50", "latency.p95", "throughput")
    ]
    for figure in figures:
        assert figure["value"] > 0
        assert figure["errors"] == 0
        assert figure["n"] == 6 * figure["concurrency"]  # every message of every conversation
        assert {"unit", "concurrency", "model", "dataset"} <= figure.keys()


@pytest.mark.slow
def test_fault_run_counts_no_report_lost_or_stored_twice():
    # Three citizens for 20 s; the backend is down from the 8th second for 8 s, so some reports
    # are queued and must arrive once the backend is back.
    result = run_module("bench", "--only", "fault", "--fault-citizens", "3", "--fault-duration", "20",
                        "--fault-down", "8", timeout_s=420)
    assert result.returncode == 0, result.stderr[-3000:]
    figures = {f["name"]: f for f in map(json.loads, result.stdout.splitlines())}
    count = {name.removeprefix("fault.reports."): figure["value"]
             for name, figure in figures.items() if name.startswith("fault.reports.")}
    assert count["queued"] > 0 and count["confirmed"] > count["queued"], count
    assert count["duplicates"] == 0 and count["lost"] == 0 and count["errors"] == 0, count
    assert count["stored"] == count["confirmed"], count
    assert figures["fault.last_queued_arrival"]["value"] >= 0


@pytest.mark.slow
def test_notify_part_times_each_state_change_until_it_is_in_the_citizens_inbox():
    # Two web chat citizens and a notifier reading the feed every 2 s: every change arrives (the run
    # fails otherwise), and the figures say which interval they were measured with.
    result = run_module("bench", "--only", "notify", "--notify-citizens", "2", "--notify-interval", "2",
                        timeout_s=300)
    assert result.returncode == 0, result.stderr[-3000:]
    figures = [json.loads(line) for line in result.stdout.splitlines()]
    assert [f["name"] for f in figures] == ["notify.delivery.p50", "notify.delivery.p95", "notify.delivery.max"]
    p50, p95, most = (f["value"] for f in figures)
    assert 0 < p50 <= p95 <= most
    for figure in figures:
        assert (figure["unit"], figure["n"], figure["notify_interval_s"]) == ("s", 2, 2.0)


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.redis
def test_scale_run_with_a_replica_killed_loses_no_report_and_stores_none_twice():
    # The production profile with two Rasa servers, three citizens for 16 s, one server killed at 8 s.
    result = run_module("bench", "--only", "scale", "--scale-citizens", "3", "--scale-duration", "16",
                        "--scale-run", "rasa2_killed", "--postgres-url", services.postgres_admin_url() or "",
                        "--redis-url", services.REDIS_URL, timeout_s=300)
    assert result.returncode == 0, result.stderr[-3000:]
    figures = {f["name"].removeprefix("scale.rasa2_killed."): f for f in map(json.loads, result.stdout.splitlines())}
    assert {"throughput", "latency.p50", "latency.p95", "errors"} <= figures.keys()
    count = {name.removeprefix("reports."): f["value"] for name, f in figures.items() if name.startswith("reports.")}
    assert figures["errors"]["value"] == 0 and count["confirmed"] > 0, count
    assert count["stored"] == count["confirmed"] and count["duplicates"] == 0 and count["lost"] == 0, count
    assert figures["throughput"]["value"] > 0 and figures["throughput"]["rasa_servers"] == 2
