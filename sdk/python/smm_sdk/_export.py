"""The bridge between a :class:`smm_sdk.Measure` and the WIT world, used by
the module ``smm_sdk build`` generates (``_smm_component.py``). Authors
need not touch it.

The generated bindings (``wit_world``, ``componentize_py_types``) are passed
in rather than imported, so this module also imports outside a component.
"""

from __future__ import annotations

import datetime
import inspect
import json
import math
import types as _pytypes
from typing import Any

from . import Measure, Measurement
from .errors import ConfigError, InputError, InternalError, MeasureError


def find_measure(module: _pytypes.ModuleType, name: str | None = None) -> type:
    """The :class:`Measure` subclass ``module`` exports: ``name`` when
    given, else the one marked with :func:`smm_sdk.export`, else the only
    subclass defined in the module itself."""
    if name:
        cls = getattr(module, name, None)
        if not (isinstance(cls, type) and issubclass(cls, Measure)):
            raise TypeError(f"{module.__name__}.{name} is not a smm_sdk.Measure subclass")
        return cls
    found = [
        c
        for c in vars(module).values()
        if isinstance(c, type)
        and issubclass(c, Measure)
        and c is not Measure
        and c.__module__ == module.__name__
        and not inspect.isabstract(c)
    ]
    marked = [c for c in found if c.__dict__.get("__smm_export__")]
    if len(marked) == 1:
        return marked[0]
    if len(found) == 1:
        return found[0]
    names = ", ".join(sorted(c.__name__ for c in found)) or "none"
    raise TypeError(
        f"{module.__name__} must define exactly one smm_sdk.Measure subclass "
        f"(found: {names}); mark one with @smm_sdk.export or pass --measure"
    )


def wit_metadata(measure: type, wit: Any) -> Any:
    """``metadata()`` as the WIT record (``wit`` is
    ``wit_world.imports.types``)."""
    m = measure.describe()
    return wit.Metadata(
        id=m.id,
        version=m.version,
        name=m.name,
        description=m.description,
        kind=wit.MeasureKind[_enum_name(m.kind)],
        unit=m.unit,
        scale=wit.Scale[_enum_name(m.scale)],
        config_schema=json.dumps(measure.schema(), separators=(",", ":")),
        output=m.output,
    )


def _enum_name(value: Any) -> str:
    return str(getattr(value, "value", value)).upper()


def wit_collect(measure: type, config: str, wit: Any, err: type) -> Any:
    """``collect(config)`` as the WIT result: the measurement, or ``err``
    (``componentize_py_types.Err``) raised with the WIT error. Exceptions
    other than :class:`MeasureError` propagate (the component traps)."""
    try:
        parsed = measure.parse_config(config)
        result = measure().collect(parsed)
        return to_wit(result, wit)
    except ConfigError as e:
        raise err(wit.Error_Config(e.message)) from None
    except InputError as e:
        raise err(wit.Error_Input(e.message)) from None
    except (InternalError, MeasureError) as e:
        raise err(wit.Error_Internal(e.message)) from None


def to_wit(m: Any, wit: Any) -> Any:
    """A :class:`Measurement` as the WIT record."""
    if not isinstance(m, Measurement):
        raise InternalError(f"collect returned {type(m).__name__}, not a smm_sdk.Measurement")
    return wit.Measurement(
        value=None if m.value is None else float(m.value),
        text=m.text,
        details=_details(m.details),
        observed_at=_observed_at(m.observed_at),
    )


def _details(details: Any) -> str | None:
    if details is None or isinstance(details, str):
        return details
    try:
        return json.dumps(details, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as e:
        raise InternalError(f"details are not JSON: {e}") from None


def _observed_at(at: Any) -> int | None:
    if at is None:
        return None
    if isinstance(at, datetime.datetime):
        if at.tzinfo is None:
            raise InternalError("observed_at: a datetime needs a time zone")
        return int(at.timestamp() * 1000)
    if isinstance(at, float):
        if not math.isfinite(at):
            raise InternalError(f"observed_at: {at} is not a time")
        return int(at)
    return int(at)
