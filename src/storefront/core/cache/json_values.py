"""Only plain JSON is cached: it reads back exactly as it was written, in any process."""

import math
from typing import Any, TypeAlias

# What a cached value may be. Callers keep their own precise types (a TypedDict, a
# list of dicts); `ensure_json` checks the shape at run time.
JSON: TypeAlias = dict[str, Any] | list[Any] | str | int | float | bool | None


class CacheValueError(TypeError):
    """A value to cache is not plain JSON."""


def ensure_json(value: object, path: str = "value") -> None:
    """Refuse anything that would not read back identical: no tuples, sets, datetimes,
    enums, models, non-string keys, NaN or infinity."""
    kind = type(value)
    if value is None or kind is str or kind is int or kind is bool:
        return
    if isinstance(value, float) and kind is float:
        if not math.isfinite(value):
            raise CacheValueError(f"{path} is {value!r}: JSON has no NaN or infinity")
        return
    if isinstance(value, list) and kind is list:
        for index, item in enumerate(value):
            ensure_json(item, f"{path}[{index}]")
        return
    if isinstance(value, dict) and kind is dict:
        for name, item in value.items():
            if type(name) is not str:
                raise CacheValueError(
                    f"{path} has the {type(name).__name__} key {name!r}: JSON keys are strings"
                )
            ensure_json(item, f"{path}[{name!r}]")
        return
    raise CacheValueError(
        f"{path} is a {kind.__qualname__}, not JSON: cache dicts, lists, str, int, float, "
        "bool and None only (dump pydantic models with model_dump(mode='json'))"
    )
