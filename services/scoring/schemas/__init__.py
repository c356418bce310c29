"""Request and response bodies of the scoring API (pydantic), one module per resource.

* ``scores``    score requests, stored decisions, shadow scores, replays
* ``models``    training requests and registry entries
* ``segments``  the segment list
* ``keys``      receipt verification keys
"""

from __future__ import annotations

from services.scoring.schemas.keys import (
    PublicKey,
    PublicKeys,
)
from services.scoring.schemas.models import (
    ModelDetail,
    ModelList,
    ModelOut,
    TrainIn,
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
    "Contribution",
    "ModelDetail",
    "ModelList",
    "ModelOut",
    "MonitoringIn",
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
    "TrainIn",
]
