"""What lint reports: a finding at ``file:line:column`` with a severity and a message."""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass
from typing import Any


class Severity(enum.StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, order=True)
class Finding:
    """One problem in a journey file; ``line`` and ``column`` count from 1 like editors do."""

    file: str
    line: int
    column: int
    severity: Severity
    code: str
    message: str

    def format(self) -> str:
        """Render as ``file:line:column: severity: message [code]``."""
        return (
            f"{self.file}:{self.line}:{self.column}: {self.severity}: {self.message} [{self.code}]"
        )

    def as_dict(self) -> dict[str, Any]:
        """Return the JSON form (the same fields as the text form)."""
        data = asdict(self)
        data["severity"] = str(self.severity)
        return data


def has_errors(findings: list[Finding]) -> bool:
    """Tell whether any finding is an error (publishing refuses such a journey)."""
    return any(f.severity is Severity.ERROR for f in findings)
