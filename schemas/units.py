"""Seizure quantities in kilogram equivalents (UNODC convention).

Litres count as kilograms (1 kg per litre); a tablet counts as ``tablet_mass_mg``
milligrams, which differs by substance (90-300 mg), so the caller passes it in
(``BLO_INGEST_TABLET_MASS_MG``).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from schemas.vocab import SeizureUnit

_KG_PER_UNIT: Mapping[str, float] = MappingProxyType({
    SeizureUnit.G: 1e-3,
    SeizureUnit.KG: 1.0,
    SeizureUnit.L: 1.0,
    SeizureUnit.ML: 1e-3,
})


def to_kg_equivalent(quantity: float, unit: SeizureUnit | str, *, tablet_mass_mg: float) -> float:
    """``quantity`` of ``unit`` in kilograms. Raises ``ValueError`` on an unknown unit or a
    non-positive ``tablet_mass_mg``."""
    if unit == SeizureUnit.TABLET:
        if not tablet_mass_mg > 0:
            raise ValueError(f"tablet_mass_mg must be > 0, got {tablet_mass_mg}")
        return quantity * tablet_mass_mg * 1e-6
    try:
        return quantity * _KG_PER_UNIT[unit]
    except KeyError:
        raise ValueError(f"unknown seizure unit {unit!r}") from None
