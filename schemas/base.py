"""The base of every wire model, and the error type of cross-field rules."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict
from pydantic_core import PydanticCustomError


def rule_error(field: str, message: str) -> PydanticCustomError:
    """A cross-field rule failure (error type ``rule``); ``field`` is the dotted path of the
    offending field, carried in the error context because model-level errors have no loc."""
    return PydanticCustomError("rule", message, {"field": field})


class StrictModel(BaseModel):
    """Strict, frozen, no unknown fields; attribute docstrings become field descriptions."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        strict=True,
        allow_inf_nan=False,
        use_attribute_docstrings=True,
    )
