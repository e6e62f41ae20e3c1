"""The models, one module per aggregate; importing this package registers them all on
:data:`campaign.db.Base.metadata` (which Alembic compares the migrations against)."""

from campaign.models.advisor import Advisor
from campaign.models.apikey import ApiKey
from campaign.models.cohort import Cohort, CohortState
from campaign.models.consent import AnonymousTally, ConsentKind, ConsentRecord
from campaign.models.delivery import TERMINAL_STATUSES, Delivery, DeliveryStatus
from campaign.models.enrollment import Enrollment, EnrollmentState
from campaign.models.event import LearnerEvent
from campaign.models.journey import Journey, JourneyVersion
from campaign.models.learner import Learner
from campaign.models.offer import Conversion, GroupBuy, Offer, OfferStatus
from campaign.models.points import CouponRedemption, PointsEntry
from campaign.models.tag import Tag, TagSource, tag_group
from campaign.models.task import Task, TaskStatus
from campaign.models.user import Role, User

__all__ = [
    "TERMINAL_STATUSES",
    "Advisor",
    "AnonymousTally",
    "ApiKey",
    "Cohort",
    "CohortState",
    "ConsentKind",
    "ConsentRecord",
    "Conversion",
    "CouponRedemption",
    "Delivery",
    "DeliveryStatus",
    "Enrollment",
    "EnrollmentState",
    "GroupBuy",
    "Journey",
    "JourneyVersion",
    "Learner",
    "LearnerEvent",
    "Offer",
    "OfferStatus",
    "PointsEntry",
    "Role",
    "Tag",
    "TagSource",
    "Task",
    "TaskStatus",
    "User",
    "tag_group",
]
