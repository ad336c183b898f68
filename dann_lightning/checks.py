"""Argument checks: every message names the argument, the bad value and what was expected.

Choices come from the ``Literal`` types of the signatures (``typing.get_args``), so a new option
is added in one place.
"""

from __future__ import annotations

import math
from numbers import Integral, Real
from typing import Any, get_args

from dann_lightning.errors import ConfigurationError


def choices_of(literal: Any) -> tuple[str, ...]:
    """The values of a ``Literal`` type (or of a tuple of values).

    Examples:
        >>> from typing import Literal
        >>> choices_of(Literal["automatic", "manual"])
        ('automatic', 'manual')
    """
    return tuple(get_args(literal)) or tuple(literal)


def check_choice(name: str, value: Any, choices: Any, *, error: type[Exception] = ConfigurationError) -> Any:
    """Return ``value`` if it is one of ``choices`` (a ``Literal`` type or a tuple), else raise.

    Examples:
        >>> from typing import Literal
        >>> check_choice("optimization", "manual", Literal["automatic", "manual"])
        'manual'
        >>> check_choice("optimization", "auto", Literal["automatic", "manual"])
        Traceback (most recent call last):
        ...
        dann_lightning.errors.ConfigurationError: unknown optimization 'auto'; valid: 'automatic', 'manual'
    """
    valid = choices_of(choices)
    if not isinstance(value, str | int) or value not in valid:
        raise error(f"unknown {name} {value!r}; valid: {', '.join(repr(choice) for choice in valid)}")
    return value


def check_int(
    name: str, value: Any, *, minimum: int | None = None, error: type[Exception] = ConfigurationError
) -> int:
    """Return ``value`` if it is an integer (not a bool) ``>= minimum``, else raise ``error``.

    Examples:
        >>> check_int("num_classes", 3, minimum=2)
        3
        >>> check_int("num_classes", True, minimum=2)
        Traceback (most recent call last):
        ...
        dann_lightning.errors.ConfigurationError: num_classes must be an integer >= 2, got True
    """
    if isinstance(value, bool) or not isinstance(value, Integral) or (minimum is not None and value < minimum):
        bound = "" if minimum is None else f" >= {minimum}"
        raise error(f"{name} must be an integer{bound}, got {value!r}")
    return int(value)


def check_real(
    name: str,
    value: Any,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    strict: bool = False,
    error: type[Exception] = ConfigurationError,
) -> float:
    """Return ``value`` as a float if it is a finite real number within the bounds, else raise.

    ``strict`` excludes the bounds themselves.

    Examples:
        >>> check_real("lambda_max", 0.5, minimum=0.0)
        0.5
        >>> check_real("val_fraction", 1.0, minimum=0.0, maximum=1.0, strict=True)
        Traceback (most recent call last):
        ...
        dann_lightning.errors.ConfigurationError: val_fraction must be a finite number > 0 and < 1, got 1.0
    """
    ok = isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(value)
    if ok and minimum is not None:
        ok = value > minimum if strict else value >= minimum
    if ok and maximum is not None:
        ok = value < maximum if strict else value <= maximum
    if not ok:
        bounds = []
        if minimum is not None:
            bounds.append(f"{'>' if strict else '>='} {minimum:g}")
        if maximum is not None:
            bounds.append(f"{'<' if strict else '<='} {maximum:g}")
        raise error(f"{name} must be a finite number{' ' if bounds else ''}{' and '.join(bounds)}, got {value!r}")
    return float(value)
