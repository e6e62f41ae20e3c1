from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from campaign.offers.evidence import clear_evidence_cache
from tests.engine.helpers import Camp
from tests.offers.helpers import offer_camp


@pytest.fixture(autouse=True)
def fresh_evidence() -> None:
    """Each test sees its own statistics, not a cached copy from another database."""
    clear_evidence_cache()


@pytest.fixture
def camp(session: Session, tmp_path: Path) -> Camp:
    return offer_camp(session, tmp_path)
