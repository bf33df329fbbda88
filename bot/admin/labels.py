"""Labelling the inbox's groups into the training data (`TRAINING_DIR/nlu/data/`).

Each group becomes one example, its wording as citizens typed it most (the address, when the admin
selected one, marked `[span](address)`), appended at the end of the examples of the block that
holds its label: `report_issue` of category C goes to `nlu_report_C.yml`, into the block whose
`metadata` says `category: C`; any other intent to the file that has its block (`nlu_<intent>.yml`
first). The files are edited as text, never loaded and dumped again, so every line but the added
ones stays byte for byte (comments, order, quoting: what a reviewer reads in the diff). Rules of
nlu/README.md kept: a wording already in the data under the same label is not added twice, and
one that is there under another label, or in the held-out set, is refused. A wording the
assistant took for an emergency (it gave the emergency numbers) is labelled otherwise only when the
admin confirms it: the next model would stop giving them.

`undo` takes a decision back: the line the label appended (kept in the store exactly as written)
is removed and nothing else, so the file is byte for byte what it was; the groups are open again.
"""
from __future__ import annotations

import fcntl
import os
import re
import shutil
import sqlite3
import tempfile
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple

import yaml

from bot.admin import audit, inbox, store
from bot.admin.errors import AdminError
from bot.categories import load_categories
from bot.settings import Settings

DATA = Path("nlu") / "data"
HELDOUT = Path("nlu") / "heldout"
REPORT = inbox.REPORT
EMERGENCY = "emergency"
_TOP_INTENT = re.compile(r"^- intent:\s*(\S+)\s*$")
_CATEGORY = re.compile(r"^\s+category:\s*(\S+)\s*$")
_EXAMPLES = re.compile(r"^\s+examples:\s*\|")
_EXAMPLE = re.compile(r"^(\s+)- (.*?)\s*$")
_MARKUP = re.compile(r"\[([^\]]*)\](?:\([^)]*\)|\{[^}]*\})")


@dataclass
class Block:
    """An intent's block in a training file: where its examples end."""
    intent: str
    category: Optional[str]
    last_line: int  # index of its last example line
    indent: str
    examples: List[str]  # the examples' text, markup removed


def _blocks(lines: List[str]) -> List[Block]:
    blocks: List[Block] = []
    current: Optional[Block] = None
    in_examples = False
    for number, line in enumerate(lines):
        if line.startswith("- ") or (line.strip() and not line[0].isspace()):
            match = _TOP_INTENT.match(line)
            current = Block(match.group(1), None, -1, "    ", []) if match else None
            if current:
                blocks.append(current)
            in_examples = False
        elif current is None:
            continue
        elif in_examples and (example := _EXAMPLE.match(line)):
            current.last_line, current.indent = number, example.group(1)
            current.examples.append(_MARKUP.sub(r"\1", example.group(2)))
        elif _EXAMPLES.match(line):
            in_examples = True
        elif not in_examples and (category := _CATEGORY.match(line)):
            current.category = category.group(1)
    return [block for block in blocks if block.last_line >= 0]


def _lines(path: Path) -> List[str]:
    return path.read_text(encoding="utf-8").splitlines(keepends=True)


def _label_files(folder: Path) -> Dict[Path, List[Block]]:
    return {path: _blocks(_lines(path)) for path in sorted(folder.glob("*.yml"))}


def training_blocks(settings: Settings) -> List[Block]:
    """Every intent block of the training data (`TRAINING_DIR/nlu/data`)."""
    return [block for blocks in _label_files(settings.training_dir / DATA).values() for block in blocks]


def options(settings: Settings) -> Dict[str, Any]:
    """The intents an admin may choose (those citizens type, from domain.yml) and the categories."""
    domain = yaml.safe_load((settings.training_dir / "domain.yml").read_text(encoding="utf-8")) or {}
    intents = [name if isinstance(name, str) else next(iter(name)) for name in domain.get("intents") or []]
    return {"intents": [name for name in intents
                        if not name.startswith("EXTERNAL_") and name not in inbox.CHANNEL_INTENTS],
            "categories": [{"code": category.code, "name": category.name} for category in load_categories()]}


def _target(settings: Settings, files: Dict[Path, List[Block]], intent: str,
            category: Optional[str]) -> Path:
    data = settings.training_dir / DATA
    if intent == REPORT:
        candidates = [data / f"nlu_report_{category}.yml"]
    else:
        candidates = [data / f"nlu_{intent}.yml"] + sorted(files)
    for path in candidates:
        if any(b.intent == intent and b.category == category for b in files.get(path, [])):
            return path
    raise AdminError(f"Không tìm thấy khối “{intent}{' / ' + category if category else ''}” trong {DATA}.", 404)


def _example(text: str, address: Optional[str]) -> str:
    # One line of plain text: brackets would read as entity markup, control characters break YAML.
    plain = "".join(c for c in " ".join(text.split()) if c.isprintable()).replace("[", "(").replace("]", ")")
    if address is None:
        return plain
    span = " ".join(address.split()).replace("[", "(").replace("]", ")")
    start = plain.find(span) if span else -1
    if start < 0:
        raise AdminError(f"Địa chỉ “{address}” không có trong câu “{plain}”.")
    return f"{plain[:start]}[{span}](address){plain[start + len(span):]}"


def _check(settings: Settings, files: Dict[Path, List[Block]], heldout: Dict[Path, List[Block]],
           example: str, intent: str, category: Optional[str]) -> bool:
    """False when the example is in the data already with this label; AdminError when it is
    there with another label or in the held-out set (nlu/README.md: compare without marks)."""
    key = inbox.key_of(_MARKUP.sub(r"\1", example))
    for path, blocks in heldout.items():
        if any(inbox.key_of(text) == key for block in blocks for text in block.examples):
            raise AdminError(f"Câu “{example}” có trong tập kiểm tra {path.relative_to(settings.training_dir)}: "
                             "không đưa vào dữ liệu huấn luyện.", 409)
    for path, blocks in files.items():
        for block in blocks:
            if any(inbox.key_of(text) == key for text in block.examples):
                if (block.intent, block.category) == (intent, category):
                    return False
                label = block.intent + (f" / {block.category}" if block.category else "")
                raise AdminError(f"Câu “{example}” đã có trong {path.relative_to(settings.training_dir)} "
                                 f"với nhãn {label}.", 409)
    return True


def _append(path: Path, intent: str, category: Optional[str], examples: List[str]) -> List[str]:
    """Appends the examples at the end of the block; the lines written, in order."""
    lines = _lines(path)
    block = [b for b in _blocks(lines) if b.intent == intent and b.category == category][-1]
    if not lines[block.last_line].endswith("\n"):
        lines[block.last_line] += "\n"
    added = [f"{block.indent}- {example}\n" for example in examples]
    lines[block.last_line + 1:block.last_line + 1] = added
    _write(path, lines)
    return added


def _write(path: Path, lines: List[str]) -> None:
    # A reader (a training under way) sees the old file or the new one, never half of it.
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
            out.writelines(lines)
        shutil.copymode(path, temporary)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


@contextmanager
def _one_labeller(settings: Settings) -> Iterator[None]:
    """The console and the CLI may label at once: one at a time edits the files."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    with open(settings.data_dir / "labels.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _validate(settings: Settings, keys: List[str], intent: Optional[str], category: Optional[str],
              address: Optional[str]) -> str:
    if not intent:
        raise AdminError("Cần chọn ý định (intent).")
    if intent not in options(settings)["intents"]:
        raise AdminError(f"Ý định không hợp lệ: “{intent}”.")
    if intent == REPORT and not category:
        raise AdminError("Phản ánh (report_issue) cần chọn loại vấn đề.")
    if category and intent != REPORT:
        raise AdminError("Chỉ phản ánh (report_issue) mới có loại vấn đề.")
    if category and category not in {c.code for c in load_categories()}:
        raise AdminError(f"Loại vấn đề không hợp lệ: “{category}”.")
    if address is not None and len(keys) != 1:
        raise AdminError("Chỉ đánh dấu địa chỉ khi gán nhãn từng câu một.")
    return intent


def _emergency_guard(chosen: Dict[str, Dict[str, Any]], intent: str) -> None:
    if intent == EMERGENCY:
        return
    for group in chosen.values():
        if group["guess"]["intent"] == EMERGENCY:
            raise AdminError(f"Trợ lý đã hiểu “{group['text']}” là tình huống khẩn cấp (emergency) và đã đưa "
                             f"các số khẩn cấp. Gán nhãn “{intent}” sẽ dạy nó không đưa nữa: hãy xác nhận nếu "
                             "chắc chắn đây không phải tình huống khẩn cấp.", 409)
        if group["guess"].get("danger_asked"):
            raise AdminError(f"Trợ lý đã hỏi người gửi “{group['text']}” có ai đang gặp nguy hiểm không. Gán nhãn "
                             f"“{intent}” có thể dạy nó thôi hỏi: hãy xác nhận nếu chắc chắn đây không phải "
                             "tình huống khẩn cấp.", 409)


def _kept_line(db: sqlite3.Connection, key: str, intent: str, category: Optional[str]
               ) -> Tuple[Optional[Tuple[str, str]], Optional[str]]:
    """The line an earlier identical label of the group appended, and its address: labelled again
    (a double click, a wording that came back, another address chosen), that line stays what the
    training data holds and what an undo removes."""
    row = db.execute("SELECT file, line, address FROM decisions WHERE key = ? AND status = 'labelled' AND intent = ? "
                     "AND category IS ? AND line IS NOT NULL", (key, intent, category)).fetchone()
    return ((row[0], row[1]), row[2]) if row else (None, None)


def label(settings: Settings, keys: Optional[List[str]], intent: Optional[str], category: Optional[str],
          address: Optional[str], who: str, confirm_emergency: bool = False) -> Dict[str, Any]:
    """Writes one example per group into the training data and marks the groups labelled."""
    category = category or None
    address = address if address and address.strip() else None
    chosen_keys = inbox.require_keys(keys)
    audit.require_who(who)
    intent = _validate(settings, chosen_keys, intent, category, address)
    with _one_labeller(settings), closing(store.connect()) as db:
        chosen = inbox.open_groups(db, chosen_keys)
        if not confirm_emergency:
            _emergency_guard(chosen, intent)
        files = _label_files(settings.training_dir / DATA)
        heldout = _label_files(settings.training_dir / HELDOUT)
        target = _target(settings, files, intent, category)
        file = str(target.relative_to(settings.training_dir))
        examples = {key: _example(group["text"], address) for key, group in chosen.items()}
        # Every group checked, then one write: a refusal or a failure leaves the file as it was.
        examples = {key: example for key, example in examples.items()
                    if _check(settings, files, heldout, example, intent, category)}
        appended = _append(target, intent, category, list(examples.values())) if examples else []
        lines = dict(zip(examples, appended, strict=True))
        written = [{"file": file, "text": example} for example in examples.values()]
        with db:
            db.execute("BEGIN IMMEDIATE")
            for key in chosen:
                line, kept_address = ((file, lines[key]), address) if key in lines else _kept_line(
                    db, key, intent, category)
                inbox.decide(db, key, "labelled", who, intent, category, kept_address if line else address, line)
                inbox.forget_decisions(db, key, "discarded")
            # A group thrown away and labelled after all is labelled.
            inbox.set_status(db, chosen, "labelled", among=("open", "discarded"))
            audit.record(who, "label", {"texts": inbox.texts(chosen), "intent": intent, "category": category,
                                        "address": address, "written": written}, db)
    return {"labelled": len(chosen), "written": written}


def undo(settings: Settings, keys: Optional[List[str]], who: str) -> Dict[str, Any]:
    """Takes the groups' decisions back: the lines their labels appended are removed (that line
    only; one no longer in its file is reported `missing`), the groups are open again."""
    chosen_keys = inbox.require_keys(keys)
    audit.require_who(who)
    with _one_labeller(settings), closing(store.connect()) as db:
        chosen = inbox.open_groups(db, chosen_keys)
        by_file: Dict[str, List[str]] = {}
        for key in chosen:
            written = inbox.written_line(db, key)
            if written:
                by_file.setdefault(written[0], []).append(written[1])
        removed: List[Dict[str, str]] = []
        missing: List[Dict[str, str]] = []
        for file, wanted in by_file.items():
            path = settings.training_dir / file
            lines = _lines(path) if path.is_file() else []
            before = len(lines)
            for line in wanted:
                entry = {"file": file, "text": line.strip()[len("- "):]}
                if line in lines:
                    # The last one: the label appended it after whatever was there.
                    del lines[len(lines) - 1 - lines[::-1].index(line)]
                    removed.append(entry)
                else:
                    missing.append(entry)
            if len(lines) != before:
                _write(path, lines)
        with db:
            db.execute("BEGIN IMMEDIATE")
            reopened = inbox.set_status(db, chosen, "open", among=("labelled", "discarded"))
            for key in chosen:
                inbox.forget_decisions(db, key)
            audit.record(who, "undo", {"texts": inbox.texts(chosen), "reopened": reopened, "removed": removed,
                                       "missing": missing}, db)
    return {"reopened": reopened, "removed": removed, "missing": missing}
