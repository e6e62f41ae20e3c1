"""The log channel: one JSON line per message in the outbox file and/or a Python logger.

For development and demos. It is idempotent: a message whose ``idempotency_key`` is already in
the outbox file is not written again, so re-running a batch is safe. Several processes may share
one outbox file: each append takes an exclusive ``flock`` and first reads the lines the others
added since, so the index of keys stays exact across processes.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import threading
from pathlib import Path
from typing import IO, Any, ClassVar

from campaign.clock import Clock, SystemClock
from campaign.journeys.spec import Channel
from campaign.messages.channels._settings import Settings
from campaign.messages.channels.base import OutgoingMessage, PermanentChannelError, SendResult

DEFAULT_LOGGER = "campaign.outbox"


def outbox_record(message: OutgoingMessage, at: str) -> dict[str, Any]:
    """Return what one outbox line holds (no e-mail address or phone number: ids only)."""
    recipient = message.recipient
    record: dict[str, Any] = {
        "at": at,
        "delivery_id": message.delivery_id,
        "idempotency_key": message.idempotency_key,
        "channel": str(message.channel),
        "journey": message.journey_key,
        "step": message.step_key,
        "selling": message.selling,
        "recipient": {
            "learner_id": recipient.learner_id,
            "external_id": recipient.external_id,
            "name": recipient.name,
            "advisor": recipient.advisor_name,
        },
        "text": message.text,
    }
    if message.subject is not None:
        record["subject"] = message.subject
    return record


KEYS_REMEMBERED = 200_000
"""Idempotency keys the channel remembers per process. A retry with the same key comes within
the send lease or a backoff (minutes), so the most recent keys are the ones that matter; an
index of every key ever written grew by about 48 MB per 417,000 sends in the scale run."""


class RecentKeys:
    """A set of the last ``limit`` keys added (the oldest are forgotten first)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._keys: dict[str, None] = {}

    def __contains__(self, key: object) -> bool:
        return key in self._keys

    def __len__(self) -> int:
        return len(self._keys)

    def add(self, key: str) -> None:
        self._keys[key] = None
        if len(self._keys) > self.limit:
            del self._keys[next(iter(self._keys))]

    def clear(self) -> None:
        self._keys.clear()


class LogChannel:
    """Append messages to an outbox file (JSON lines) and/or log them."""

    channel: ClassVar[Channel] = Channel.LOG
    idempotent: ClassVar[bool] = True

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        logger: logging.Logger | str | None = DEFAULT_LOGGER,
        *,
        level: int = logging.INFO,
        clock: Clock | None = None,
    ) -> None:
        """:param path: the outbox file (created with its folder when missing); None: no file.
        :param logger: a logger or its name that gets each new line; None: no logging.
        """
        if path is None and logger is None:
            raise ValueError("the log channel needs an outbox path, a logger, or both")
        self.path = Path(path) if path is not None else None
        self.logger = logging.getLogger(logger) if isinstance(logger, str) else logger
        self.level = level
        self.clock = clock or SystemClock()
        self._keys = RecentKeys(KEYS_REMEMBERED)
        self._offset = 0  # how far into the file the index of keys has read
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings, clock: Clock | None = None) -> LogChannel:
        """Settings: ``path`` (outbox file), ``logger`` (a name; false for none), ``level``."""
        path = settings.optional_text("path")
        logger_name = settings.switchable_text("logger", DEFAULT_LOGGER)
        level_name = settings.text("level", "INFO").upper()
        level = logging.getLevelName(level_name)
        if not isinstance(level, int):
            raise settings.error("level", f"unknown logging level {level_name!r}")
        settings.check_all_read()
        if path is None and logger_name is None:
            raise settings.error("logger", "is off and there is no path: nowhere to write")
        return cls(path, logger_name, level=level, clock=clock)

    def send(self, message: OutgoingMessage) -> SendResult:
        record = outbox_record(message, self.clock.now().isoformat())
        line = json.dumps(record, ensure_ascii=False, sort_keys=True)
        with self._lock:
            if self.path is not None:
                written = self._append(message.idempotency_key, line)
            else:
                written = message.idempotency_key not in self._keys
                self._keys.add(message.idempotency_key)
        if not written:
            return SendResult(detail="already in the outbox (same idempotency key)")
        if self.logger is not None:
            self.logger.log(self.level, "outbox %s", line)
        where = f"written to {self.path}" if self.path is not None else "logged"
        return SendResult(provider_id=message.idempotency_key, detail=where)

    def _append(self, key: str, line: str) -> bool:
        """Append ``line`` unless ``key`` is in the file already; tell whether it wrote."""
        assert self.path is not None
        try:
            with self._open() as file:
                fcntl.flock(file, fcntl.LOCK_EX)  # released when the file is closed
                ends_with_newline = self._catch_up(file)
                if key in self._keys:
                    return False
                data = line.encode("utf-8") + b"\n"
                if not ends_with_newline:
                    data = b"\n" + data  # a writer died mid-line: do not glue onto its line
                file.write(data)
                file.flush()
                self._offset = file.tell()
                self._keys.add(key)
                return True
        except OSError as exc:
            raise PermanentChannelError(f"cannot write the outbox {self.path}: {exc}") from exc

    def _open(self) -> IO[bytes]:
        """Open the outbox for appending; make its folder the first time it is missing."""
        assert self.path is not None
        try:
            return open(self.path, "a+b")
        except FileNotFoundError:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            return open(self.path, "a+b")

    def _catch_up(self, file: IO[bytes]) -> bool:
        """Index the keys of lines added since the last read; tell whether the file ends a line."""
        size = file.seek(0, os.SEEK_END)
        if size < self._offset:  # truncated or replaced: index it again from the start
            self._keys.clear()
            self._offset = 0
        file.seek(self._offset)
        chunk = file.read()
        complete, newline, _ = chunk.rpartition(b"\n")
        for raw in complete.split(b"\n") if newline else ():
            try:
                key = json.loads(raw).get("idempotency_key")
            except (ValueError, AttributeError):
                continue  # a torn or foreign line: not ours to judge
            if isinstance(key, str):
                self._keys.add(key)
        self._offset += len(complete) + len(newline)
        # The index always stops just after a newline (or at 0), so an empty chunk ends a line.
        return not chunk or chunk.endswith(b"\n")
