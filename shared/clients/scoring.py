"""Typed client of the scoring service over an injected ``httpx.Client``.

* scores: ``score`` (loans asks for a decision, with each feature's source; ``ScoreResult``:
  the sources of every feature of the spec and ``challenger_disagreement``), ``get_score``,
  ``list_scores`` (``ScoreFilters``, limit, offset: the decision explorer), ``waterfall_svg``,
  ``replay`` (re-run with the stored model: identical, or the differences), ``shadow_scores``;
* receipts: ``keys`` (the published verification keys) and :func:`verify_decision`, which
  checks a decision against them here, with no call to scoring;
* segments: ``segments`` and ``segment`` (the feature spec: types, bounds, categories,
  units, monotone directions, reason codes with English and Chinese texts, an example);
* the registry: ``models``, ``model`` (with its promotions), ``model_card`` (with how the
  version's loans performed), ``model_card_markdown``, ``model_performance_svg`` (its chart),
  ``champion_history`` of a segment, ``promote``;
* monitoring: ``monitoring_psi`` (PSI per feature and of the score, each with the bins to
  chart, and the adverse impact ratio); ``performance`` (realised default rate vs mean PD per
  grade, AUC and KS, vintage curves, adverse impact on approvals and outcomes);
* the audit routes every service has (``PlatformClient``).

Reason texts come in the language asked for (``lang``: ``en`` or ``zh``; a text without a
Chinese version stays English); so do the waterfall's words.

Receipts — what exactly is signed (the one implementation is :mod:`shared.receipts`):

* ``ScoreDecision.receipt`` is ``{alg: "Ed25519", key_id, payload, signature}``. ``payload``
  is a string, the canonical JSON (keys sorted, no whitespace, UTF-8, floats in shortest
  round-trip form) of ``created_at, features_sha256, grade, model_sha256, model_version, pd,
  reason_codes, score, score_id, segment, subject_id``; ``features_sha256`` is the hex SHA-256
  of the canonical JSON of the features as submitted.
* ``signature`` is base64url (no padding) of the Ed25519 signature of the UTF-8 bytes of
  ``payload`` exactly as received — never of a re-serialisation.
* ``keys()`` are ``{key_id, alg: "Ed25519", public_key}`` with ``public_key`` the base64url
  of the raw 32-byte key; the receipt's ``key_id`` names the one that signed.
* :func:`verify_decision` checks the signature, then that the decision's id, segment,
  subject, model version and SHA-256, score, PD, grade, time and reason codes are the signed
  ones. Scores, PDs and points are ``float`` here (not ``Decimal``) because they are compared
  bit for bit with the signed payload; ``ScoreResult``, what loans keeps, stays ``Decimal``.

Errors are the shared client's: ``ServiceUnreachable`` (connection failed, timed out, or a
502/503/504 after retries) and ``UpstreamProblem`` (scoring answered 4xx/500 — a 422 names
the fields it refused in ``problem["errors"]``; an answer that does not parse as below is a
502). State-changing calls take an Idempotency-Key, so a retry after a lost answer gets the
same answer back.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal, TypeVar
from urllib.parse import quote

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from shared.clients.platform import PlatformClient, unexpected_answer
from shared.receipts import PublishedKeys, ReceiptCheck, check_score_document

Language = Literal["en", "zh"]
Hint = Literal["approve", "review", "decline"]
FeatureSource = Literal["applicant", "marketplace", "default"]
"""Where a feature's value came from: the applicant, the marketplace (escrow's trade summary),
or nowhere (``default``: omitted, scoring's missing value)."""


class _Answer(BaseModel):
    model_config = ConfigDict(extra="ignore", protected_namespaces=())


# --- what loans keeps of a decision (unchanged) --------------------------------------------------


class ScoreReason(_Answer):
    """A reason code: the feature that cost points and its text."""

    code: str
    feature: str | None = None
    points: Decimal | None = None
    integer_points: int | None = None
    text: str | None = None


class ScoreResult(_Answer):
    """What loans keeps of a scoring decision (scoring's 201 answer, extra fields ignored)."""

    id: str
    segment: str
    subject_id: str
    model_version: str | None = None
    score: Decimal
    integer_score: int | None = None
    """The score rounded half to even, as printed (None from a scoring service before integers)."""
    pd: Decimal
    grade: str
    decision_hint: str
    reasons: list[ScoreReason] = Field(default_factory=list)
    feature_sources: dict[str, FeatureSource] | None = None
    """Every feature of the segment's spec and its source (None when the call stated none)."""
    marketplace_as_of: AwareDatetime | None = None
    challenger_disagreement: bool = False
    """A challenger scored in shadow gave another decision hint than the champion."""


# --- a stored decision -------------------------------------------------------------------------


class Contribution(_Answer):
    """A feature's input value and the points it added (+) or cost (−)."""

    feature: str
    value: Any = None
    points: float
    integer_points: int
    """Printable points: with ``integer_base_points`` they add up to ``integer_score`` exactly."""


class Reason(_Answer):
    """A reason code: a feature that cost points, with its text in the language asked for."""

    code: str
    feature: str
    points: float
    integer_points: int
    text: str


class Receipt(_Answer):
    """The signed receipt, exactly as scoring signed it (``payload`` is the signed string)."""

    alg: str
    key_id: str
    payload: str
    signature: str

    def signed(self) -> dict[str, Any]:
        """The payload decoded (what the signature covers; trust it only once verified)."""
        decoded = json.loads(self.payload)
        return decoded if isinstance(decoded, dict) else {}


class ScoreDecision(_Answer):
    """A stored, signed, explained decision: score = base_points + Σ contributions' points."""

    id: str
    segment: str
    subject_id: str
    model_version: str
    model_sha256: str
    score: float
    base_points: float
    integer_score: int
    integer_base_points: int
    pd: float
    grade: str
    decision_hint: str
    contributions: list[Contribution]
    reasons: list[Reason]
    receipt: Receipt
    created_at: AwareDatetime
    feature_sources: dict[str, FeatureSource] | None = None
    """Each feature's source (None on decisions stored before sources were kept)."""
    marketplace_as_of: AwareDatetime | None = None
    challenger_disagreement: bool = False


class ScorePage(_Answer):
    """A page of decisions, newest first; ``next_offset`` is None on the last page."""

    scores: list[ScoreDecision]
    limit: int
    offset: int
    next_offset: int | None = None


class ScoreFilters(BaseModel):
    """What ``list_scores`` keeps (None: any); ``scored_from`` inclusive, ``scored_to`` not."""

    model_config = ConfigDict(extra="forbid", frozen=True, protected_namespaces=())

    subject_id: str | None = None
    segment: str | None = None
    model_version: str | None = None
    decision_hint: Hint | None = None
    scored_from: AwareDatetime | None = None
    scored_to: AwareDatetime | None = None

    def params(self) -> dict[str, str]:
        """The query parameters of these filters."""
        out: dict[str, str] = {}
        for name, value in self.model_dump(exclude_none=True).items():
            out[name] = value.isoformat() if isinstance(value, datetime) else str(value)
        return out


class ShadowScore(_Answer):
    """What a challenger would have scored beside a decision (never shown to the applicant)."""

    challenger_version: str
    score: float
    pd: float
    grade: str
    decision_hint: str


class ReplayDifference(_Answer):
    """A field that came out differently (``contributions.<feature>``, ``receipt.<field>``, …)."""

    field: str
    original: Any = None
    replayed: Any = None


class ReplayResult(_Answer):
    """A decision recomputed from its stored inputs with its stored model version."""

    id: str
    model_version: str
    model_sha256: str
    identical: bool
    original: dict[str, Any]
    replayed: dict[str, Any] | None = None
    differences: list[ReplayDifference] = Field(default_factory=list)


# --- receipts ------------------------------------------------------------------------------------


class PublicKey(_Answer):
    """A receipt verification key: base64url (no padding) of the raw 32-byte Ed25519 key."""

    key_id: str
    alg: str
    public_key: str
    valid_from: str | None = None
    """When the key began signing (ISO-8601 UTC; None for a key published without bounds)."""
    valid_until: str | None = None
    """When it was retired (None: it signs new receipts now, or has no bounds)."""


class PublicKeys(_Answer):
    """Every key that verifies receipts (the newest signs; older ones keep old receipts valid)."""

    keys: list[PublicKey]

    def document(self) -> dict[str, Any]:
        """The ``GET /v1/keys`` document, as :mod:`shared.receipts` takes it."""
        return {"keys": [key.model_dump() for key in self.keys]}


def verify_decision(decision: ScoreDecision, keys: PublicKeys | PublishedKeys) -> ReceiptCheck:
    """Verify a decision's receipt against published keys, here: the Ed25519 signature, then
    that every signed field of the decision (its time included) is what was signed."""
    published = keys.document() if isinstance(keys, PublicKeys) else keys
    document = {**decision.model_dump(exclude={"created_at"}), "receipt": decision.receipt.model_dump()}
    check = check_score_document(document, published)
    if not check.valid or check.payload is None:
        return check
    try:
        signed_at = datetime.fromisoformat(str(check.payload["created_at"]))
    except ValueError:
        signed_at = None
    if signed_at != decision.created_at:
        return ReceiptCheck(
            False, "response field 'created_at' differs from the signed payload", check.key_id, check.payload
        )
    return check


# --- segments --------------------------------------------------------------------------------------


class FeatureReason(_Answer):
    """A feature's reason code and its texts (``zh`` may be missing: English is shown then)."""

    code: str
    en: str
    zh: str | None = None

    def text(self, lang: Language = "en") -> str:
        """The text in ``lang``, English when there is none."""
        return (self.zh if lang == "zh" else None) or self.en


class Feature(_Answer):
    """One input of a segment's model: what the application form asks for and allows."""

    name: str
    type: Literal["numeric", "categorical", "boolean"]
    unit: str = ""
    min: float | None = None
    max: float | None = None
    categories: list[str] = Field(default_factory=list)
    missing_allowed: bool = False
    monotone: Literal[-1, 0, 1] = Field(
        default=0, description="+1: higher is better (higher score), -1: higher is worse, 0: either"
    )
    reason: FeatureReason


class FeatureSpec(_Answer):
    """A feature spec as stored with a model."""

    segment: str
    target: str = "default"
    version: str = "0"
    description: str = ""
    features: list[Feature]
    example: dict[str, Any] = Field(default_factory=dict)

    def feature(self, name: str) -> Feature:
        """The feature called ``name`` (KeyError when the spec has none)."""
        for feature in self.features:
            if feature.name == name:
                return feature
        raise KeyError(name)


class Segment(FeatureSpec):
    """A segment's current spec, where it comes from and its champion; ``example`` scores."""

    source: str
    champion_version: str | None = None


class SegmentSummary(_Answer):
    """A segment in the list (``features`` is how many)."""

    segment: str
    source: str
    description: str
    features: int
    champion_version: str | None = None


# --- the registry ----------------------------------------------------------------------------------


class Promotion(_Answer):
    """A version made its segment's champion: when, by whom (the actor: ``person:<username>:
    <role>:via:<key>`` when the console acted for a person), replacing which champion."""

    segment: str
    version: str
    previous_version: str | None = None
    promoted_at: AwareDatetime
    promoted_by: str


class ModelSummary(_Answer):
    """A registry entry (``promoted_*``: its latest promotion)."""

    version: str
    segment: str
    status: Literal["challenger", "champion", "retired"]
    artifact_sha256: str
    data_fingerprint: str
    data_source: str
    test_metrics: dict[str, float | None] = Field(default_factory=dict)
    created_at: AwareDatetime
    created_by: str
    promoted_at: AwareDatetime | None = None
    promoted_by: str | None = None


class ModelDetail(ModelSummary):
    """A registry entry with its spec, parameters, library versions, metrics and every promotion."""

    spec: FeatureSpec
    parameters: dict[str, Any] = Field(default_factory=dict)
    library_versions: dict[str, str] = Field(default_factory=dict)
    metrics: dict[str, Any] = Field(default_factory=dict)
    promotions: list[Promotion] = Field(default_factory=list)


class ChampionHistory(_Answer):
    """A segment's champion now and its promotions, newest first."""

    segment: str
    champion_version: str | None = None
    promotions: list[Promotion]
    limit: int
    offset: int
    next_offset: int | None = None


class CardModel(_Answer):
    """What the card says of the model itself."""

    segment: str
    spec_version: str
    artifact_sha256: str
    algorithm: str
    best_iteration: int
    seed: int
    library_versions: dict[str, str] = Field(default_factory=dict)


class CardGrade(_Answer):
    """A grade and its lowest score (None for the lowest grade)."""

    grade: str
    min_score: float | None = None


class CardConstraint(_Answer):
    """A feature's monotone constraint in words."""

    feature: str
    direction: str
    lightgbm_constraint: int


class CardDriver(_Answer):
    """A global driver: mean |points| over the training data."""

    feature: str
    code: str
    mean_abs_points: float


class ModelCard(_Answer):
    """The model card: use, data, metrics, calibration, scale, grades, constraints, drivers, limits."""

    version: str
    status: str
    created_at: AwareDatetime
    model: CardModel
    intended_use: list[str]
    out_of_scope_use: list[str]
    data: dict[str, Any]
    metrics: dict[str, Any] = Field(description="``test`` metrics and ``cv`` (None without cross-validation)")
    tuning: dict[str, Any] | None = Field(
        default=None, description="The tuned parameters, inner AUC and outer AUC ± sd (None: not tuned)"
    )
    calibration: dict[str, Any] = Field(description="method, parameters, ``note``, ``table`` by bin")
    score_scale: dict[str, Any]
    grades: list[CardGrade]
    monotone_constraints: list[CardConstraint]
    top_drivers: list[CardDriver]
    performance: CardPerformance | None = None
    """How the version's loans performed, and its chart's path (None from a scoring without it)."""
    limitations: list[str]


# --- monitoring ------------------------------------------------------------------------------------


class PsiBin(_Answer):
    """One bin: its label, the training share (``expected``) and the recent share (``actual``)."""

    label: str
    expected: float
    actual: float


class Stability(_Answer):
    """PSI of one distribution vs the training baseline, its band, and its bins (last: missing)."""

    psi: float
    band: Literal["stable", "moderate", "significant"]
    kind: Literal["numeric", "categorical"]
    edges: list[float] | None = None
    categories: list[str] | None = None
    bins: list[PsiBin]


class Fairness(_Answer):
    """Adverse impact ratio of approve hints across the callers' monitoring groups."""

    attribute: str
    outcome: str
    rows: int
    rates: dict[str, float]
    counts: dict[str, int]
    ratio: float
    flagged: bool
    threshold: float


class StabilityReport(_Answer):
    """Recent decisions of a segment against its champion's training baseline."""

    segment: str
    model_version: str
    since: AwareDatetime
    rows: int
    skipped_rows: int
    bands: dict[str, str]
    score: Stability | None = None
    features: dict[str, Stability] = Field(default_factory=dict)
    fairness: Fairness | None = None


class GradePerformance(_Answer):
    """One grade's matured loans: defaults against the PD their scores predicted (null: none)."""

    grade: str
    matured: int
    defaulted: int
    default_rate: float | None = None
    mean_pd: float | None = None
    note: str | None = None


class Discrimination(_Answer):
    """AUC and KS of the predicted PD on matured loans (null with one class only, see ``note``)."""

    matured: int
    defaulted: int
    auc: float | None = None
    ks: float | None = None
    note: str | None = None


class VintagePoint(_Answer):
    """Share of a vintage defaulted within ``months`` of disbursement."""

    months: int
    defaulted: int
    default_rate: float


class Vintage(_Answer):
    """Loans disbursed in one month (``YYYY-MM``) and their cumulative default curve."""

    vintage: str
    loans: int
    curve: list[VintagePoint]
    note: str | None = None


class AdverseImpact(_Answer):
    """Min/max ratio of a group rate across monitoring groups (null with fewer than two)."""

    ratio: float | None = None
    flagged: bool | None = None
    rates: dict[str, float] = Field(default_factory=dict)
    counts: dict[str, int] = Field(default_factory=dict)
    threshold: float
    note: str | None = None


class AdverseImpacts(_Answer):
    """Adverse impact on approve hints and on not defaulting."""

    approvals: AdverseImpact
    outcomes: AdverseImpact


class PerformanceReport(_Answer):
    """How a segment's scored loans performed as of a date."""

    segment: str
    model_version: str | None = None
    as_of: date
    decisions: int
    loans: int
    matured: int
    grades: list[GradePerformance]
    discrimination: Discrimination
    vintages: list[Vintage]
    adverse_impact: AdverseImpacts
    note: str | None = None


class CardPerformance(_Answer):
    """A model card's ``performance``: its version's performance report as of scoring's today,
    and the path of its chart (``model_performance_svg``)."""

    as_of: date
    decisions: int
    loans: int
    matured: int
    grades: list[GradePerformance]
    discrimination: Discrimination
    vintages: list[Vintage]
    adverse_impact: AdverseImpacts
    note: str | None = None
    chart: str


# --- the client ------------------------------------------------------------------------------------


class _Shadows(_Answer):
    decision_id: str
    shadow_scores: list[ShadowScore]


class _Segments(_Answer):
    segments: list[SegmentSummary]


class _Models(_Answer):
    models: list[ModelSummary]


Model = TypeVar("Model", bound=BaseModel)


def _segment(value: str) -> str:
    """A path segment, escaped: an id never reaches another route (``../keys``)."""
    return quote(value, safe="")


def _given(**params: Any) -> dict[str, Any]:
    return {name: value for name, value in params.items() if value is not None}


def _parse(what: str, model: type[Model], body: Any) -> Model:
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        raise unexpected_answer(what, exc) from None


class ScoringClient(PlatformClient):
    """Calls the scoring service."""

    def _json(self, method: str, path: str, model: type[Model], **kwargs: Any) -> Model:
        response = self.request(method, path, **kwargs)
        try:
            body = response.json()
        except ValueError as exc:
            raise unexpected_answer(f"{method} {path}", exc) from None
        return _parse(f"{method} {path}", model, body)

    def _text(self, path: str, media_type: str, params: dict[str, Any] | None = None) -> str:
        response = self.request("GET", path, params=params)
        if not response.headers.get("content-type", "").startswith(media_type):
            got = response.headers.get("content-type") or "no content type"
            raise unexpected_answer(f"GET {path}", ValueError(f"{got}, not {media_type}"))
        return response.text

    # --- scores ------------------------------------------------------------------------------

    def score(
        self,
        *,
        segment: str,
        subject_id: str,
        features: dict[str, Any],
        idempotency_key: str,
        monitoring_group: str | None = None,
        lang: Language | None = None,
        feature_sources: dict[str, str] | None = None,
        marketplace_as_of: datetime | None = None,
    ) -> ScoreResult:
        """Score ``subject_id`` in ``segment``; retry-safe because the call carries ``idempotency_key``.

        ``feature_sources`` (feature -> ``applicant`` / ``marketplace`` / ``default``) and the
        trade summary's ``marketplace_as_of`` (aware) are stored with the decision.
        """
        body: dict[str, Any] = {"segment": segment, "subject_id": subject_id, "features": features}
        if monitoring_group is not None:
            body["monitoring"] = {"group": monitoring_group}
        if feature_sources is not None:
            body["feature_sources"] = feature_sources
        if marketplace_as_of is not None:
            if marketplace_as_of.utcoffset() is None:
                raise ValueError("marketplace_as_of must be timezone-aware")
            body["marketplace_as_of"] = marketplace_as_of.isoformat()
        return self._json(
            "POST",
            "/v1/scores",
            ScoreResult,
            json=body,
            params=_given(lang=lang) or None,
            idempotency_key=idempotency_key,
        )

    def get_score(self, score_id: str, *, lang: Language = "en") -> ScoreDecision:
        """A stored decision with its contributions, reasons (in ``lang``) and signed receipt."""
        return self._json("GET", f"/v1/scores/{_segment(score_id)}", ScoreDecision, params={"lang": lang})

    def list_scores(
        self, filters: ScoreFilters | None = None, *, limit: int = 50, offset: int = 0, lang: Language = "en"
    ) -> ScorePage:
        """Decisions, newest first, narrowed by ``filters``; a page of ``limit`` (at most 500)."""
        params = {**(filters or ScoreFilters()).params(), "limit": limit, "offset": offset, "lang": lang}
        return self._json("GET", "/v1/scores", ScorePage, params=params)

    def waterfall_svg(self, score_id: str, *, lang: Language = "en") -> str:
        """The decision's waterfall as SVG text: a ``<title>``, a ``<desc>`` saying it in words."""
        return self._text(f"/v1/scores/{_segment(score_id)}/waterfall.svg", "image/svg+xml", {"lang": lang})

    def replay(self, score_id: str, *, idempotency_key: str) -> ReplayResult:
        """Re-run a decision with its stored model version: identical, or every difference
        (auditor, admin, credit manager; audited as ``score.replayed``)."""
        path = f"/v1/scores/{_segment(score_id)}/replay"
        return self._json("POST", path, ReplayResult, idempotency_key=idempotency_key)

    def shadow_scores(self, score_id: str) -> list[ShadowScore]:
        """What the segment's challengers scored beside a decision (credit manager, auditor, admin)."""
        path = f"/v1/scores/{_segment(score_id)}/shadow"
        return self._json("GET", path, _Shadows).shadow_scores

    # --- receipts ----------------------------------------------------------------------------

    def keys(self) -> PublicKeys:
        """The published Ed25519 keys that verify receipts (public: no credential needed)."""
        return self._json("GET", "/v1/keys", PublicKeys)

    # --- segments ----------------------------------------------------------------------------

    def segments(self) -> list[SegmentSummary]:
        """Built-in segments and those registered by bring-your-own-data training."""
        return self._json("GET", "/v1/segments", _Segments).segments

    def segment(self, name: str) -> Segment:
        """A segment's feature spec (what an application form asks for) and an example applicant."""
        return self._json("GET", f"/v1/segments/{_segment(name)}", Segment)

    def champion_history(self, segment: str, *, limit: int = 100, offset: int = 0) -> ChampionHistory:
        """Who made which version the segment's champion when, replacing which, newest first."""
        path = f"/v1/segments/{_segment(segment)}/champions"
        return self._json("GET", path, ChampionHistory, params={"limit": limit, "offset": offset})

    # --- the registry ------------------------------------------------------------------------

    def models(
        self,
        *,
        segment: str | None = None,
        status: Literal["challenger", "champion", "retired"] | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[ModelSummary]:
        """Registered versions, per segment newest first."""
        params = _given(segment=segment, status=status, limit=limit, offset=offset)
        return self._json("GET", "/v1/models", _Models, params=params).models

    def model(self, version: str) -> ModelDetail:
        """A version with its spec, parameters, metrics and every time it was promoted."""
        return self._json("GET", f"/v1/models/{_segment(version)}", ModelDetail)

    def promotions(self, version: str) -> list[Promotion]:
        """Every time ``version`` became its segment's champion, newest first."""
        return self.model(version).promotions

    def model_card(self, version: str) -> ModelCard:
        """The model card of a version."""
        return self._json("GET", f"/v1/models/{_segment(version)}/card", ModelCard)

    def model_card_markdown(self, version: str) -> str:
        """The model card of a version as Markdown."""
        return self._text(f"/v1/models/{_segment(version)}/card.md", "text/markdown")

    def model_performance_svg(self, version: str, *, lang: Language = "en") -> str:
        """The card's chart as SVG text: realised default rate vs mean predicted PD per grade."""
        return self._text(f"/v1/models/{_segment(version)}/performance.svg", "image/svg+xml", {"lang": lang})

    def promote(self, version: str, *, idempotency_key: str) -> ModelSummary:
        """Make ``version`` its segment's champion (admin, credit manager; recorded with the actor)."""
        path = f"/v1/models/{_segment(version)}/promote"
        return self._json("POST", path, ModelSummary, idempotency_key=idempotency_key)

    # --- monitoring --------------------------------------------------------------------------

    def monitoring_psi(self, segment: str, *, since: datetime | None = None) -> StabilityReport:
        """PSI of the score and each feature since ``since`` (aware; default: scoring's window)
        against the champion's training baseline, and the adverse impact ratio."""
        params = {"segment": segment, **({"since": since.isoformat()} if since is not None else {})}
        return self._json("GET", "/v1/monitoring/psi", StabilityReport, params=params)

    def performance(
        self, segment: str, *, model_version: str | None = None, as_of: date | None = None
    ) -> PerformanceReport:
        """Realised default rate vs mean predicted PD per grade, AUC and KS on matured loans,
        vintage curves and adverse impact, for ``segment`` (one ``model_version`` when given) as
        of ``as_of`` (default: scoring's today)."""
        params = _given(
            segment=segment,
            model_version=model_version,
            as_of=as_of.isoformat() if as_of is not None else None,
        )
        return self._json("GET", "/v1/monitoring/performance", PerformanceReport, params=params)
