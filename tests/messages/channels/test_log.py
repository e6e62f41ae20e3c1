"""The log channel writes one JSON line per message, once per idempotency key."""

from __future__ import annotations

import json
import logging
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from campaign.clock import FrozenClock
from campaign.journeys.spec import Channel
from campaign.messages.channels._settings import ChannelConfigError, Settings
from campaign.messages.channels.log import LogChannel

from .conftest import make_message

NOW = datetime(2026, 12, 8, 13, 0, tzinfo=UTC)


def lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_writes_one_readable_json_line(tmp_path: Path) -> None:
    outbox = tmp_path / "out" / "outbox.jsonl"
    channel = LogChannel(outbox, None, clock=FrozenClock(NOW))
    result = channel.send(make_message(subject="作业提醒"))
    assert result.detail == f"written to {outbox}"
    assert result.provider_id == "d42-a1"
    raw = outbox.read_text(encoding="utf-8")
    assert "王小明" in raw  # Chinese stays readable in the file
    [record] = lines(outbox)
    assert record == {
        "at": NOW.isoformat(),
        "delivery_id": 42,
        "idempotency_key": "d42-a1",
        "channel": "log",
        "journey": "python-camp",
        "step": "homework-reminder",
        "selling": False,
        "recipient": {
            "learner_id": 7,
            "external_id": "L-0007",
            "name": "王小明",
            "advisor": "李老师",
        },
        "subject": "作业提醒",
        "text": "王小明，今天的作业还差一点点，有卡住的地方随时问我。",
    }
    assert "email" not in raw and "138" not in raw  # no addresses in the outbox


def test_the_same_key_is_written_once(tmp_path: Path) -> None:
    outbox = tmp_path / "outbox.jsonl"
    channel = LogChannel(outbox, None)
    channel.send(make_message())
    again = channel.send(make_message(text="changed"))
    channel.send(make_message(idempotency_key="d43-a1", delivery_id=43))
    assert again.detail == "already in the outbox (same idempotency key)"
    assert [r["idempotency_key"] for r in lines(outbox)] == ["d42-a1", "d43-a1"]


def test_a_restarted_process_sees_what_is_already_written(tmp_path: Path) -> None:
    outbox = tmp_path / "outbox.jsonl"
    LogChannel(outbox, None).send(make_message())
    restarted = LogChannel(outbox, None)
    assert restarted.send(make_message()).detail == "already in the outbox (same idempotency key)"
    assert len(lines(outbox)) == 1


def test_writers_sharing_a_file_never_duplicate(tmp_path: Path) -> None:
    """Four adapters (as four worker processes would) send the same 50 keys at once."""
    outbox = tmp_path / "outbox.jsonl"
    writers = [LogChannel(outbox, None) for _ in range(4)]

    def run(channel: LogChannel) -> None:
        for n in range(50):
            channel.send(make_message(idempotency_key=f"k{n}", delivery_id=n))

    threads = [threading.Thread(target=run, args=(writer,)) for writer in writers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    keys = [str(r["idempotency_key"]) for r in lines(outbox)]
    assert sorted(keys) == sorted(f"k{n}" for n in range(50))


def test_a_torn_last_line_is_not_glued_to_the_next(tmp_path: Path) -> None:
    outbox = tmp_path / "outbox.jsonl"
    outbox.write_text('{"idempotency_key": "old"}\n{"idempotency_key": "to', encoding="utf-8")
    channel = LogChannel(outbox, None)
    channel.send(make_message())
    channel.send(make_message(idempotency_key="old"))  # indexed from the complete line
    text = outbox.read_text(encoding="utf-8").splitlines()
    assert text[1] == '{"idempotency_key": "to'
    assert json.loads(text[2])["idempotency_key"] == "d42-a1"
    assert len(text) == 3


def test_a_truncated_outbox_is_indexed_again(tmp_path: Path) -> None:
    outbox = tmp_path / "outbox.jsonl"
    channel = LogChannel(outbox, None)
    channel.send(make_message())
    outbox.write_text("", encoding="utf-8")
    channel.send(make_message())
    assert len(lines(outbox)) == 1


def test_logs_to_a_logger(caplog: pytest.LogCaptureFixture) -> None:
    channel = LogChannel(logger="campaign.outbox")
    with caplog.at_level(logging.INFO, logger="campaign.outbox"):
        first = channel.send(make_message(channel=Channel.WECOM))
        second = channel.send(make_message(channel=Channel.WECOM))
    assert first.detail == "logged"
    assert second.detail is not None and second.detail.startswith("already")
    [entry] = caplog.records
    assert entry.name == "campaign.outbox"
    record = json.loads(entry.getMessage().removeprefix("outbox "))
    assert record["channel"] == "wecom"


def test_settings() -> None:
    channel = LogChannel.from_settings(Settings("log", {"PATH": "x.jsonl", "logger": False}))
    assert channel.path == Path("x.jsonl") and channel.logger is None
    default = LogChannel.from_settings(Settings("log", {}))
    assert default.path is None and default.logger is logging.getLogger("campaign.outbox")
    with pytest.raises(ChannelConfigError, match=r"nowhere to write"):
        LogChannel.from_settings(Settings("log", {"logger": False}))
    with pytest.raises(ChannelConfigError, match=r"log.level: unknown logging level 'LOUD'"):
        LogChannel.from_settings(Settings("log", {"level": "loud"}))
    with pytest.raises(ChannelConfigError, match=r"unknown setting.*pth"):
        LogChannel.from_settings(Settings("log", {"pth": "x"}))
    with pytest.raises(ValueError, match=r"needs an outbox path"):
        LogChannel(None, None)


def test_memory_holds_the_recent_keys_only(tmp_path: Path) -> None:
    """A long-running worker remembers a bounded number of keys (the newest): a retry comes
    minutes after its first attempt, not a million sends later."""
    from campaign.messages.channels.log import RecentKeys

    keys = RecentKeys(3)
    for key in "abcd":
        keys.add(key)
    assert (
        len(keys) == 3 and "a" not in keys and {"b", "c", "d"} == {k for k in "abcd" if k in keys}
    )
    channel = LogChannel(tmp_path / "outbox.jsonl", None)
    channel._keys = RecentKeys(2)
    for number in (1, 2, 3):
        channel.send(make_message(idempotency_key=f"k{number}", delivery_id=number))
    assert channel.send(make_message(idempotency_key="k3", delivery_id=3)).detail == (
        "already in the outbox (same idempotency key)"
    )
    assert len(channel._keys) == 2
