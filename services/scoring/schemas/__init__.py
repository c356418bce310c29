"""Request and response bodies of the scoring API (pydantic), one module per resource.

* ``scores``    score requests, stored decisions, shadow scores, replays
* ``models``    training requests, registry entries, champion promotions
* ``segments``  the segment list
* ``monitoring`` the stability (PSI) and fairness report
* ``keys``      receipt verification keys
"""

from __future__ import annotations

from services.scoring.schemas.keys import (
    PublicKey,
    PublicKeys,
)
from services.scoring.schemas.models import (
    ChampionHistory,
    ModelDetail,
    ModelList,
    ModelOut,
    PromotionOut,
    TrainIn,
)
from services.scoring.schemas.monitoring import (
    Fairness,
    PsiBin,
    Stability,
    StabilityReport,
)
from services.scoring.schemas.scores import (
    Contribution,
    MonitoringIn,
    ReasonOut,
    Receipt,
    ReplayOut,
    ScoreIn,
    ScoreList,
    ScoreOut,
    ShadowList,
    ShadowOut,
)
from services.scoring.schemas.segments import (
    SegmentList,
    SegmentOut,
)

__all__ = [
    "ChampionHistory",
    "Contribution",
    "Fairness",
    "ModelDetail",
    "ModelList",
    "ModelOut",
    "MonitoringIn",
    "PromotionOut",
    "PsiBin",
    "PublicKey",
    "PublicKeys",
    "ReasonOut",
    "Receipt",
    "ReplayOut",
    "ScoreIn",
    "ScoreList",
    "ScoreOut",
    "SegmentList",
    "SegmentOut",
    "ShadowList",
    "ShadowOut",
    "Stability",
    "StabilityReport",
    "TrainIn",
]
