"""`make run` in operation: a citizen half-way through a report while the processes under it die
and come back. The action server killed is started again by the supervisor, and while it is down
the citizen is told to try again, not left in silence; a model reload and a restart of the Rasa
server (conversations in the SQLite tracker store under DATA_DIR) keep the report where it was."""
from __future__ import annotations

import os
import signal

import pytest

from tests.support.conversation import COMPLAINT, REPORT_CODE, Citizen, payloads, text
from tests.support.places import THUAN_HOA
from tests.support.stack import run_module
from tools.processes import wait_until_up
from tools.rasa_server import BUSY_MESSAGE

pytestmark = pytest.mark.slow


def asks_for_photos(replies) -> bool:
    return "ảnh" in text(replies).lower() and "/deny" in payloads(replies)


def test_a_report_goes_on_while_the_processes_under_it_die_and_come_back(stack):
    citizen = Citizen(stack, "patient")
    assert "Chiếu sáng công cộng" in text(citizen.say(COMPLAINT))
    asked_where = citizen.say("/affirm")
    assert any((r.get("custom") or {}).get("request_location") for r in asked_where), asked_where
    actions_health = f"{stack.actions_url}/health"

    # The supervisor held still, so that the action server stays down while the citizen speaks.
    os.kill(stack.process.pid, signal.SIGSTOP)
    try:
        os.kill(stack.pid_of("tools.action_server"), signal.SIGKILL)
        assert not wait_until_up(actions_health, [], timeout_s=0.5)
        replies = citizen.pin(THUAN_HOA)
        assert text(replies) == BUSY_MESSAGE, replies
    finally:
        os.kill(stack.process.pid, signal.SIGCONT)

    assert wait_until_up(actions_health, [], timeout_s=60), stack.output()
    told = stack.output()
    assert "the actions stopped with exit code -9 (SIGKILL); starting it again in 1 s" in told
    assert told.count("The action server cannot be reached (") == 1, told
    assert "Couldn't connect" not in told  # Rasa's own line on it: the cause is logged once
    # The pin the citizen sends again answers the same question: the message lost left no trace.
    assert asks_for_photos(citizen.pin(THUAN_HOA))

    reload = run_module("bot.cli", "reload", env={"RASA_PORT": str(stack.rasa_port)})
    assert reload.returncode == 0, reload.stdout + reload.stderr
    summary = citizen.say("/deny")
    assert "Ảnh: 0" in text(summary) and "/affirm" in payloads(summary), summary

    os.kill(stack.pid_of("tools.rasa_server"), signal.SIGKILL)
    assert wait_until_up(f"{stack.rasa_url}/", [], timeout_s=300), stack.output()
    filed = citizen.say("/affirm")
    code = REPORT_CODE.search(text(filed))
    assert code, filed
    assert stack.report(code.group(0))["service_code"] == "chieu_sang"
