"""What the management API accepts beyond each field's own rule: strict JSON, no NUL, finite numbers.

`StrictBody` is the base of every request body and `clean_parameters` a dependency of every route:

- strict JSON types: ``"5"`` is not a number, ``"yes"`` is not ``true``, ``2.5`` is not an integer (an integer
  is still a number: JSON has one number type);
- no unknown fields;
- finite numbers only: Python's JSON parser reads ``1e400`` as infinity and accepts ``NaN`` and ``Infinity``;
- no NUL character in any string, object key or nested value, and none in a path or query parameter:
  PostgreSQL text cannot hold one, and every store must answer the same (422, not a 503 from one backend
  and a stored value in another). Fields named in ``raw_fields`` (a message payload, stored as the bytes
  sent) are exempt.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator

__all__ = ["MAX_BODY_DEPTH", "StrictBody", "clean_parameters", "nested_deeper_than"]

# nesting levels of arrays and objects a JSON request body may have: what many receivers' parsers accept
# for a payload (Ruby's JSON: 100), far inside what the store (deep copies), the response serializer
# (pydantic-core stops at 255) and Python's recursion limit handle
MAX_BODY_DEPTH = 100


class StrictBody(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)

    # fields whose content is stored as sent (their own validation still applies)
    raw_fields: ClassVar[frozenset[str]] = frozenset()

    @field_validator("*", mode="before")
    @classmethod
    def _no_nul_or_non_finite(cls, value: Any, info: ValidationInfo) -> Any:
        name = info.field_name or ""
        if name not in cls.raw_fields:
            problem = _problem(value, name)
            if problem is not None:
                raise ValueError(problem)
        return value


def _problem(value: Any, where: str) -> str | None:
    """Why ``value`` (JSON: dicts, lists, strings, numbers) cannot be stored, or None."""
    if isinstance(value, str):
        return f"{where} must not contain a NUL character" if "\x00" in value else None
    if isinstance(value, float):
        return None if math.isfinite(value) else f"{where} must be a finite number, not {value}"
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str) and "\x00" in key:
                return f"{where} has a key with a NUL character"
            found = _problem(item, f"{where}.{key}")
            if found is not None:
                return found
    if isinstance(value, list):
        for index, item in enumerate(value):
            found = _problem(item, f"{where}[{index}]")
            if found is not None:
                return found
    return None


async def clean_parameters(request: Request) -> None:
    """Refuse a NUL character in any path or query parameter (an app-wide dependency)."""
    errors = [
        {
            "type": "value_error",
            "loc": (place, name),
            "msg": "must not contain a NUL character",
            "input": None,
        }
        for place, items in (
            ("path", request.path_params.items()),
            ("query", request.query_params.multi_items()),
        )
        for name, value in items
        if "\x00" in str(value) or "\x00" in name
    ]
    if errors:
        raise RequestValidationError(errors)


def nested_deeper_than(value: Any, limit: int) -> bool:
    """Whether a parsed JSON value has more than ``limit`` levels of arrays and objects (iteratively)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        children = item.values() if isinstance(item, dict) else item
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False
