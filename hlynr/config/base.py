"""Base class for every config object: unknown keys are rejected with a suggestion."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator
from pydantic_core import PydanticCustomError

from hlynr.config.loader import error_message, specific_errors
from hlynr.registries import suggest


def nested_error(msg: str, *subpath: Any) -> PydanticCustomError:
    """A validation error reported at ``subpath`` below the key being validated."""
    return PydanticCustomError("nested", "{msg}", {"msg": msg, "subpath": subpath})


def reraise_nested(exc: ValidationError, data: Any, *prefix: Any) -> PydanticCustomError:
    """The first error of a nested validation of ``data`` as one error at its full sub-path."""
    errors = specific_errors(exc, data)
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    loc, first = errors[0]
    return nested_error(error_message(first) + more, *prefix, *loc)


class StrictModel(BaseModel):
    """A pydantic model that forbids unknown keys and names the likely intended key.

    Subclass it for every config section and every component's parameters; the loader turns
    validation errors into one message naming the file, the key path and the suggestion.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)

    @model_validator(mode="before")
    @classmethod
    def _reject_unknown_keys(cls, data: Any) -> Any:
        if isinstance(data, dict):
            known = set(cls.model_fields)
            known |= {f.alias for f in cls.model_fields.values() if f.alias}
            unknown = [k for k in data if isinstance(k, str) and k not in known]
            if unknown:
                # A key with a likely intended spelling first: a typo says more than an extra key.
                key = next((k for k in unknown if suggest(k, known)), unknown[0])
                raise PydanticCustomError(
                    "unknown_key",
                    "unknown key '{key}'{hint}; allowed keys: {allowed}",
                    {"key": key, "hint": suggest(key, known), "allowed": ", ".join(sorted(known))},
                )
        return data
