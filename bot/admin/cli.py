"""`python -m bot.cli admin <command>`: the admin service's operations for scripts and shells,
calling the same functions directly. Each prints one JSON document on stdout and exits 0, or prints
`{"error": "<Vietnamese message>"}` and exits 1 for what cannot be done, wrong arguments included
(scripts and cron read one shape); a retraining in the foreground says its progress on stderr, and
exits 1 when its job failed."""
from __future__ import annotations

import argparse
import getpass
import json
import logging
import os
import sys
from typing import Any, Callable, Dict, List, NoReturn, Optional

from bot.admin import audit, dashboard, inbox, labels, models, retrain, store
from bot.admin.errors import AdminError
from bot.settings import Settings, SettingsError, load_settings

NO_JOB = "Chưa có lần huấn luyện nào."
UNKNOWN_JOB = "Không có lần huấn luyện này."
# The bounds of the list arguments, here and in the admin service's query parameters.
BOUNDS = {"limit": (1, 1000), "offset": (0, 10**9), "days": (1, 366)}


def _refused(message: str) -> int:
    """`{"error": message}` on stdout; the exit code."""
    print(json.dumps({"error": message}, ensure_ascii=False), flush=True)
    return 1


class _JsonErrors(argparse.ArgumentParser):
    """Wrong arguments answered as the commands' own errors are."""

    def error(self, message: str) -> NoReturn:
        sys.exit(_refused(f"Tham số không hợp lệ ({self.prog} --help): {message}"))


def bounded(name: str) -> Callable[[str], int]:
    """The argument type of an integer within BOUNDS[name]."""
    low, high = BOUNDS[name]

    def parse(raw: str) -> int:
        try:
            value = int(raw)
        except ValueError:
            value = low - 1
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{name} phải là số nguyên từ {low} đến {high}")
        return value

    return parse


def default_who() -> str:
    """Who acts when `--by` is not given: the shell's user, marked as the command line."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # a uid without a passwd entry (some containers)
        return "cli"


def require_job(settings: Settings, job_id: Optional[int] = None) -> Dict[str, Any]:
    """The retraining `job_id` (the latest when None); AdminError 404 when there is none."""
    found = retrain.job(settings, job_id)
    if found is None:
        raise AdminError(NO_JOB if job_id is None else UNKNOWN_JOB, 404)
    return found


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="admin_command", required=True, parser_class=_JsonErrors)

    def with_who(command: argparse.ArgumentParser) -> argparse.ArgumentParser:
        command.add_argument("--by", default=None, help="who acts, for the audit log (default cli:$USER)")
        return command

    sub.add_parser("options", help="the intents and categories a label may name")
    show = sub.add_parser("inbox", help="messages not understood, grouped, most frequent first")
    show.add_argument("--status", choices=store.STATUSES, default="open")
    show.add_argument("--limit", type=bounded("limit"), default=100)
    show.add_argument("--offset", type=bounded("offset"), default=0)
    label = with_who(sub.add_parser("label", help="write groups into the training data as an intent"))
    label.add_argument("--key", action="append", required=True, help="a group's key (repeat for several)")
    label.add_argument("--intent", required=True)
    label.add_argument("--category", help="the category code (required for report_issue)")
    label.add_argument("--address", help="the span of the text that is the address (one key only)")
    label.add_argument("--confirm-emergency", action="store_true",
                       help="label otherwise a wording the assistant took for an emergency")
    discard = with_who(sub.add_parser("discard", help="drop groups from the inbox"))
    discard.add_argument("--key", action="append", required=True, help="a group's key (repeat for several)")
    undo = with_who(sub.add_parser("undo", help="take back the groups' label or discard (the example is removed)"))
    undo.add_argument("--key", action="append", required=True, help="a group's key (repeat for several)")
    train = with_who(sub.add_parser("retrain", help="train, score against the live model, go live if not worse"))
    train.add_argument("--background", action="store_true", help="start it and return (see `job`)")
    job = sub.add_parser("job", help="a retraining's state (the latest by default)")
    job.add_argument("--id", type=int)
    sub.add_parser("models", help="the models, their scores and which is live")
    report = sub.add_parser("report", help="a model's scores beside the live model's")
    report.add_argument("name")
    with_who(sub.add_parser("rollback", help="put the previously live model live again"))
    live = with_who(sub.add_parser("live", help="put a kept model that passed the gate live again"))
    live.add_argument("name")
    board = sub.add_parser("dashboard", help="messages a day, share understood, top missed")
    board.add_argument("--days", type=bounded("days"), default=30)
    log = sub.add_parser("audit", help="who did what, newest first")
    log.add_argument("--limit", type=bounded("limit"), default=100)


def _progress(job: Dict[str, Any]) -> None:
    print(f"{job.get('stage')} {float(job.get('progress') or 0):.0%} {job.get('message') or ''}".rstrip(),
          file=sys.stderr, flush=True)


def _operate(settings: Settings, args: argparse.Namespace) -> Any:
    who = args.by if getattr(args, "by", None) else default_who()
    command = args.admin_command
    if command == "options":
        return labels.options(settings)
    if command == "inbox":
        inbox.scan(settings)
        return inbox.groups(args.status, args.limit, args.offset)
    if command == "label":
        return labels.label(settings, args.key, args.intent, args.category, args.address, who,
                            args.confirm_emergency)
    if command == "discard":
        return inbox.discard(args.key, who)
    if command == "undo":
        return labels.undo(settings, args.key, who)
    if command == "retrain":
        if args.background:
            return retrain.start(settings, who)
        return retrain.run(settings, who, on_progress=_progress)
    if command == "job":
        return require_job(settings, args.id)
    if command == "models":
        return models.history(settings)
    if command == "report":
        return models.report(settings, args.name)
    if command == "rollback":
        return models.rollback(settings, who)
    if command == "live":
        return models.put_live(settings, args.name, who)
    if command == "dashboard":
        return dashboard.dashboard(settings, args.days)
    return audit.entries(args.limit)


def main(argv: List[str]) -> int:
    """`python -m bot.cli admin ARGV`."""
    parser = _JsonErrors(prog="python -m bot.cli admin",
                         description="The admins' loop: inbox, labels, retraining, models (JSON out).")
    add_arguments(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = load_settings()
    except SettingsError as exc:
        return _refused(f"Cấu hình không hợp lệ: {exc}")
    try:
        result = _operate(settings, args)
    except AdminError as exc:
        return _refused(str(exc))
    try:
        print(json.dumps(result, ensure_ascii=False, indent=2), flush=True)
    except BrokenPipeError:  # `| head`: the reader had enough; no traceback at exit
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    # A retraining that failed is still reported as its job (its `message` says why), but a
    # script must see it failed.
    return 1 if args.admin_command == "retrain" and result.get("state") == "failed" else 0
