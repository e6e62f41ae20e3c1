"""Read one channel's settings with types, and report what was misspelt.

Settings come from a plain mapping (``CHANNELS["email"]`` in the app config). Values set from the
environment arrive JSON-decoded by Flask (``"587"`` becomes ``587``, ``"true"`` becomes ``True``),
so readers accept both the decoded value and its text.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class ChannelConfigError(ValueError):
    """The channel configuration is wrong: the message says which channel and which setting."""


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class Settings:
    """One channel's settings; every read is remembered so unknown keys can be reported."""

    def __init__(self, channel: str, raw: Mapping[str, Any]) -> None:
        self.channel = channel
        self._values: dict[str, Any] = {}
        for key, value in raw.items():
            if not isinstance(key, str):
                raise ChannelConfigError(f"{channel}: setting names are text, got {key!r}")
            if key.lower() in self._values:
                raise ChannelConfigError(f"{channel}: setting {key.lower()} is given twice")
            self._values[key.lower()] = value
        self._read: set[str] = set()

    def _get(self, key: str) -> Any:
        self._read.add(key)
        return self._values.get(key)

    def error(self, key: str, problem: str) -> ChannelConfigError:
        """Return the error to raise for a bad value of ``key``."""
        return ChannelConfigError(f"{self.channel}.{key}: {problem}")

    def invalid(self, problem: str) -> ChannelConfigError:
        """Return the error to raise when the settings do not fit together."""
        return ChannelConfigError(f"{self.channel}: {problem}")

    def optional_text(self, key: str) -> str | None:
        """Return the setting as text, or None when it is absent or empty."""
        value = self._get(key)
        if value is None or value == "":
            return None
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise self.error(key, f"expected text, got {value!r}")
        return str(value)

    def switchable_text(self, key: str, default: str) -> str | None:
        """Return the setting as text: ``default`` when absent, None when off (false or "")."""
        if key not in self._values:
            self._read.add(key)
            return default
        if self._values[key] is False:
            self._read.add(key)
            return None
        return self.optional_text(key)

    def text(self, key: str, default: str) -> str:
        """Return the setting as text, or ``default``."""
        value = self.optional_text(key)
        return default if value is None else value

    def required_text(self, key: str) -> str:
        """Return the setting as text; raise when it is missing."""
        value = self.optional_text(key)
        if value is None:
            raise self.error(key, "is required")
        return value

    def number(self, key: str, default: float) -> float:
        """Return the setting as a number above zero (timeouts, windows), or ``default``."""
        value = self._get(key)
        if value is None or value == "":
            return default
        if isinstance(value, bool):
            raise self.error(key, f"expected a number, got {value!r}")
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise self.error(key, f"expected a number, got {value!r}") from None
        if not number > 0:
            raise self.error(key, f"must be more than 0, got {value!r}")
        return number

    def integer(self, key: str, default: int, *, minimum: int = 1) -> int:
        """Return the setting as a whole number of at least ``minimum``."""
        value = self._get(key)
        if value is None or value == "":
            return default
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise self.error(key, f"expected a whole number, got {value!r}")
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise self.error(key, f"expected a whole number, got {value!r}") from None
        if number < minimum:
            raise self.error(key, f"must be at least {minimum}, got {value!r}")
        return number

    def flag(self, key: str, default: bool) -> bool:
        """Return the setting as a yes/no (``true``/``false``, ``1``/``0``, ``on``/``off``)."""
        value = self._get(key)
        if value is None:
            return default
        if isinstance(value, bool):
            return value
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        raise self.error(key, f"expected true or false, got {value!r}")

    def check_all_read(self) -> None:
        """Raise when a setting was given that the channel does not know (a typo, usually)."""
        unknown = sorted(set(self._values) - self._read)
        if unknown:
            known = ", ".join(sorted(self._read))
            raise ChannelConfigError(
                f"{self.channel}: unknown setting(s) {', '.join(unknown)} (known: {known})"
            )
