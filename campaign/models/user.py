"""Console users: admins, marketers and advisors (an advisor user is tied to one Advisor)."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column
from werkzeug.security import check_password_hash, generate_password_hash

from campaign.db import Base, UTCDateTime, enum_type, utcnow


class Role(enum.StrEnum):
    ADMIN = "admin"  # users, roles, channel settings; sees everything
    MARKETER = "marketer"  # journeys, cohorts, funnels; sees every cohort
    ADVISOR = "advisor"  # their own learners and tasks only


class User(Base):
    """Someone who signs in to the console. Passwords are kept only as salted hashes."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(256))
    role: Mapped[Role] = mapped_column(enum_type(Role))
    advisor_id: Mapped[int | None] = mapped_column(ForeignKey("advisors.id"), unique=True)
    locale: Mapped[str | None] = mapped_column(String(10))  # None: from the browser
    timezone: Mapped[str | None] = mapped_column(String(64))  # None: the cohort's
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    def set_password(self, password: str) -> None:
        """Store a salted hash of ``password`` (scrypt)."""
        self.password_hash = generate_password_hash(password, method="scrypt")

    def check_password(self, password: str) -> bool:
        """Tell whether ``password`` is this user's (constant-time)."""
        return check_password_hash(self.password_hash, password)

    # Flask-Login's user protocol.
    @property
    def is_active(self) -> bool:
        return self.active

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str:
        return str(self.id)
