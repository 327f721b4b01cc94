"""Fixed vocabularies of schema_version 1.

Every coded field of an event or a station record takes its values from one of these
enumerations. They are ``StrEnum`` so a member *is* its wire value (``Mode.ROAD == "road"``)
and goes into ClickHouse ``String`` columns as is. Adding a member is a backwards-compatible
change; renaming or removing one needs a new schema version.
"""

from __future__ import annotations

from enum import StrEnum


class EventType(StrEnum):
    """Kind of event; selects the type-specific fields (the discriminator of the union)."""

    CROSSING = "crossing"
    INSPECTION = "inspection"
    SEIZURE = "seizure"
    DETENTION = "detention"
    INCIDENT = "incident"
    LIAISON_MESSAGE = "liaison_message"
    COUNT_REPORT = "count_report"


class Direction(StrEnum):
    """Direction of travel as seen from the reporting post: into or out of its country."""

    INBOUND = "inbound"
    OUTBOUND = "outbound"


class Subject(StrEnum):
    """What crossed: people, a vehicle (with its occupants) or a cargo consignment."""

    PERSON = "person"
    VEHICLE = "vehicle"
    CARGO = "cargo"


class Mode(StrEnum):
    """Transport mode of the crossing (after the UN/LOCODE function list)."""

    ROAD = "road"
    RAIL = "rail"
    AIR = "air"
    PEDESTRIAN = "pedestrian"
    WATER = "water"
    PIPELINE = "pipeline"


class VehicleClass(StrEnum):
    """Vehicle class, after the US BTS border-crossing measures; 'none' when no vehicle."""

    PERSONAL_VEHICLE = "personal_vehicle"
    BUS = "bus"
    TRUCK = "truck"
    TRAIN = "train"
    CONTAINER_LOADED = "container_loaded"
    CONTAINER_EMPTY = "container_empty"
    RAIL_CONTAINER_LOADED = "rail_container_loaded"
    RAIL_CONTAINER_EMPTY = "rail_container_empty"
    NONE = "none"


class DocumentCheck(StrEnum):
    """Outcome of the travel-document check: passed, entry/exit refused, referred to a
    second-line check, or not checked."""

    PASSED = "passed"
    REFUSED = "refused"
    REFERRED = "referred"
    NOT_CHECKED = "not_checked"


class InspectionTarget(StrEnum):
    """What was inspected."""

    PERSON = "person"
    LUGGAGE = "luggage"
    VEHICLE = "vehicle"
    CARGO = "cargo"
    CONTAINER = "container"
    MAIL = "mail"


class InspectionReason(StrEnum):
    """Why it was inspected: risk profile hit, random selection, intelligence, canine alert,
    X-ray image, referral from the document check, or other."""

    RISK_PROFILE = "risk_profile"
    RANDOM = "random"
    INTELLIGENCE = "intelligence"
    CANINE = "canine"
    XRAY = "xray"
    REFERRAL = "referral"
    OTHER = "other"


class InspectionOutcome(StrEnum):
    """Result of an inspection: nothing found, a find (see the seizure events), or referred
    to another agency."""

    NOTHING_FOUND = "nothing_found"
    FIND = "find"
    REFERRED = "referred"


class Drug(StrEnum):
    """Seized substance (UNODC individual seizure report / WCO CEN categories). Precursor
    chemicals are listed in :data:`PRECURSORS`."""

    HEROIN = "heroin"
    OPIUM = "opium"
    MORPHINE = "morphine"
    HASHISH = "hashish"
    CANNABIS_HERB = "cannabis_herb"
    METHAMPHETAMINE = "methamphetamine"
    AMPHETAMINE = "amphetamine"
    MDMA = "mdma"
    COCAINE = "cocaine"
    NPS = "nps"  # new psychoactive substances (synthetic cathinones, cannabinoids, ...)
    PHARMACEUTICALS = "pharmaceuticals"
    ACETIC_ANHYDRIDE = "acetic_anhydride"
    EPHEDRINE = "ephedrine"
    PSEUDOEPHEDRINE = "pseudoephedrine"
    OTHER_PRECURSOR = "other_precursor"
    OTHER = "other"


PRECURSORS: frozenset[Drug] = frozenset(
    {Drug.ACETIC_ANHYDRIDE, Drug.EPHEDRINE, Drug.PSEUDOEPHEDRINE, Drug.OTHER_PRECURSOR}
)
"""Chemicals controlled as precursors rather than as drugs."""


class SeizureUnit(StrEnum):
    """Unit of a seized quantity: grams, kilograms, litres, millilitres or tablets."""

    G = "g"
    KG = "kg"
    L = "l"
    ML = "ml"
    TABLET = "tablet"


class Concealment(StrEnum):
    """Where the goods were hidden (WCO CEN concealment methods)."""

    BODY = "body"
    LUGGAGE = "luggage"
    NATURAL_VOID = "natural_void"
    BUILT_COMPARTMENT = "built_compartment"
    MIXED_IN_CARGO = "mixed_in_cargo"
    CONTAINER = "container"
    MAIL = "mail"
    NONE = "none"
    OTHER = "other"


class DetectionMethod(StrEnum):
    """How the seizure was detected."""

    RISK_PROFILE = "risk_profile"
    RANDOM = "random"
    INTELLIGENCE = "intelligence"
    CANINE = "canine"
    XRAY = "xray"
    PHYSICAL_SEARCH = "physical_search"
    DOCUMENT_CHECK = "document_check"
    TIP_OFF = "tip_off"
    OTHER = "other"


class Conveyance(StrEnum):
    """Means of transport the goods travelled with."""

    PEDESTRIAN = "pedestrian"
    PERSONAL_VEHICLE = "personal_vehicle"
    BUS = "bus"
    TRUCK = "truck"
    TRAIN = "train"
    AIRCRAFT = "aircraft"
    VESSEL = "vessel"
    MAIL = "mail"
    OTHER = "other"


class Offence(StrEnum):
    """Offence the persons were detained for."""

    DRUG_TRAFFICKING = "drug_trafficking"
    DRUG_POSSESSION = "drug_possession"
    PRECURSOR_TRAFFICKING = "precursor_trafficking"
    SMUGGLING = "smuggling"
    ILLEGAL_CROSSING = "illegal_crossing"
    DOCUMENT_FRAUD = "document_fraud"
    WEAPONS_TRAFFICKING = "weapons_trafficking"
    HUMAN_TRAFFICKING = "human_trafficking"
    OTHER = "other"


class IncidentType(StrEnum):
    """EUROSUR event category."""

    UNAUTHORISED_CROSSING = "unauthorised_crossing"
    CROSS_BORDER_CRIME = "cross_border_crime"
    CRISIS = "crisis"
    OTHER = "other"


class Impact(StrEnum):
    """EUROSUR impact level of an incident on border security."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class Confidence(StrEnum):
    """How sure the reporting officer is of the incident report."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class LiaisonKind(StrEnum):
    """Purpose of a message between two BLOs."""

    ALERT = "alert"
    REQUEST = "request"
    RESPONSE = "response"
    JOINT_OPERATION = "joint_operation"
    HANDOVER = "handover"


class LiaisonPriority(StrEnum):
    """Handling priority of a liaison message, lowest first."""

    ROUTINE = "routine"
    PRIORITY = "priority"
    URGENT = "urgent"


class Agency(StrEnum):
    """Agency staffing a post; 'joint' for a BLO staffed by several agencies."""

    BORDER_GUARD = "border_guard"
    CUSTOMS = "customs"
    POLICE = "police"
    DRUG_CONTROL = "drug_control"
    JOINT = "joint"


class AgeBand(StrEnum):
    """Age band of detained persons, in completed years."""

    UNDER_18 = "under_18"
    FROM_18_TO_24 = "18_24"
    FROM_25_TO_34 = "25_34"
    FROM_35_TO_44 = "35_44"
    FROM_45_TO_54 = "45_54"
    FROM_55_TO_64 = "55_64"
    FROM_65 = "65_plus"
    UNKNOWN = "unknown"
