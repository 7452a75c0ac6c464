"""``DetectParams``: the per-request knobs (thresholds, caps, class filter), validated once."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from trt_core.errors import InvalidRequestError

MAX_DET_LIMIT = 10_000
MAX_CLASS_ID = 2**31


@dataclass(frozen=True)
class DetectParams:
    conf: float = 0.25
    iou: float = 0.45
    max_det: int = 300
    classes: tuple[int, ...] | None = None
    agnostic: bool = False

    def __post_init__(self) -> None:
        if not 0.0 <= self.conf <= 1.0:
            raise InvalidRequestError(f"conf must be between 0 and 1, got {self.conf}")
        if not 0.0 <= self.iou <= 1.0:
            raise InvalidRequestError(f"iou must be between 0 and 1, got {self.iou}")
        if not 1 <= self.max_det <= MAX_DET_LIMIT:
            raise InvalidRequestError(f"max_det must be an integer from 1 to {MAX_DET_LIMIT}, got {self.max_det}")
        if self.classes is not None and any(not 0 <= c < MAX_CLASS_ID for c in self.classes):
            given = list(self.classes)
            raise InvalidRequestError(f"classes must be class ids from 0 to {MAX_CLASS_ID - 1}, got {given}")

    def replace(self, **changes: Any) -> DetectParams:
        """A copy with the non-``None`` values of ``changes`` applied (typed values, or their
        query-string spelling: ``conf="0.5"``, ``classes="0,2"``)."""
        given = {k: v for k, v in changes.items() if v is not None}
        unknown = set(given) - set(QUERY_KEYS)
        if unknown:
            raise InvalidRequestError(f"unknown parameter(s): {', '.join(sorted(unknown))}")
        text = {k: v for k, v in given.items() if isinstance(v, str)}
        given.update(query_changes(text))
        if isinstance(given.get("classes"), str):  # an empty string: no filter
            given.pop("classes")
        if "classes" in given:
            given["classes"] = tuple(_integer("classes", c) for c in given["classes"])
        for key, kind in (("conf", float), ("iou", float), ("max_det", int)):
            if key in given and (isinstance(given[key], bool) or not isinstance(given[key], int | float)):
                raise InvalidRequestError(f"{key} must be a number, got {given[key]!r}")
            if key in given and kind is int and given[key] != int(given[key]):
                raise InvalidRequestError(f"{key} must be an integer, got {given[key]!r}")
        return dataclasses.replace(self, **given)

    def with_query(self, query: Mapping[str, str]) -> DetectParams:
        """Apply HTTP query parameters (``conf``, ``iou``, ``max_det``, ``classes``, ``agnostic``)."""
        return self.replace(**query_changes(query))

    def check_classes(self, num_classes: int) -> DetectParams:
        """``self``, or :class:`InvalidRequestError` when ``classes`` names an id the model lacks."""
        if self.classes is not None and any(c >= num_classes for c in self.classes):
            raise InvalidRequestError(
                f"classes must be class ids from 0 to {num_classes - 1} for this model, got {list(self.classes)}"
            )
        return self


QUERY_KEYS = ("conf", "iou", "max_det", "classes", "agnostic")
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off", "")


def query_changes(query: Mapping[str, str]) -> dict[str, Any]:
    """The typed values of the HTTP query parameters given (unknown or malformed ones raise)."""
    unknown = set(query) - set(QUERY_KEYS)
    if unknown:
        raise InvalidRequestError(f"unknown query parameter(s): {', '.join(sorted(unknown))}")
    changes: dict[str, Any] = {}
    if "conf" in query:
        changes["conf"] = _number(query, "conf", float)
    if "iou" in query:
        changes["iou"] = _number(query, "iou", float)
    if "max_det" in query:
        changes["max_det"] = _number(query, "max_det", int)
    if query.get("classes", "").strip():  # an empty value means no filter
        changes["classes"] = parse_classes(query["classes"])
    if "agnostic" in query:
        flag = query["agnostic"].strip().lower()
        if flag not in _TRUE + _FALSE:
            raise InvalidRequestError(f"agnostic must be true or false, got {query['agnostic']!r}")
        changes["agnostic"] = flag in _TRUE
    return changes


def _integer(key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
        raise InvalidRequestError(f"{key} must be integer ids, got {value!r}")
    return int(value)


def parse_classes(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise InvalidRequestError(f"classes must be comma-separated integer ids, got {text!r}") from None


def _number(query: Mapping[str, str], key: str, kind: type) -> Any:
    text = query[key]
    try:
        value = kind(text)
    except ValueError:
        expected = "an integer" if kind is int else "a number"
        raise InvalidRequestError(f"{key} must be {expected}, got {text!r}") from None
    if kind is float and value != value:
        raise InvalidRequestError(f"{key} must be a number, got {text!r}")
    return value
