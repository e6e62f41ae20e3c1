"""The models, one module per aggregate; importing this package registers them all on
:data:`campaign.db.Base.metadata` (which Alembic compares the migrations against)."""

from campaign.models.advisor import Advisor
from campaign.models.cohort import Cohort, CohortState
from campaign.models.enrollment import Enrollment, EnrollmentState
from campaign.models.journey import Journey, JourneyVersion
from campaign.models.learner import Learner
from campaign.models.tag import Tag, TagSource, tag_group

__all__ = [
    "Advisor",
    "Cohort",
    "CohortState",
    "Enrollment",
    "EnrollmentState",
    "Journey",
    "JourneyVersion",
    "Learner",
    "Tag",
    "TagSource",
    "tag_group",
]
