"""The models, one module per aggregate; importing this package registers them all on
:data:`campaign.db.Base.metadata` (which Alembic compares the migrations against)."""

from campaign.models.advisor import Advisor
from campaign.models.cohort import Cohort, CohortState
from campaign.models.delivery import TERMINAL_STATUSES, Delivery, DeliveryStatus
from campaign.models.enrollment import Enrollment, EnrollmentState
from campaign.models.event import LearnerEvent
from campaign.models.journey import Journey, JourneyVersion
from campaign.models.learner import Learner
from campaign.models.tag import Tag, TagSource, tag_group
from campaign.models.task import Task, TaskStatus

__all__ = [
    "TERMINAL_STATUSES",
    "Advisor",
    "Cohort",
    "CohortState",
    "Delivery",
    "DeliveryStatus",
    "Enrollment",
    "EnrollmentState",
    "Journey",
    "JourneyVersion",
    "Learner",
    "LearnerEvent",
    "Tag",
    "TagSource",
    "Task",
    "TaskStatus",
    "tag_group",
]
