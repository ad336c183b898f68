"""What the model, export, callbacks and the CLI may ask of a data module: one typed contract.

Every built-in data module implements [`DomainData`][dann_lightning.data.contract.DomainData]
(through [`DomainDataModule`][dann_lightning.data.DomainDataModule]). A user's own
``LightningDataModule`` need not: the model still trains on it, it just has less to infer (give
``num_classes`` and layer widths by hand; predictions carry no ids or class names; an export folds
no preprocessing in). Implementing the contract, by subclassing ``DomainDataModule`` or by having
these members, buys all of that.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any, Protocol

from torch import Tensor


class DomainData(Protocol):
    """The members a data module offers to [`DANNLitModule`][dann_lightning.DANNLitModule], the
    export, the callbacks and the CLI. Each may answer "unknown" (``None``) where it applies."""

    @property
    def task(self) -> str | None:
        """``"classification"`` or ``"regression"``: the task its labels serve; ``None``: unknown."""

    @property
    def classes(self) -> list[str] | None:
        """Class names, index ``i`` naming class ``i``; ``None`` where the data names none."""

    @property
    def num_classes(self) -> int | None:
        """How many classes; ``None`` when unknown (and for regression)."""

    @property
    def num_sources(self) -> int:
        """How many source domains each training batch holds."""

    @property
    def has_source_val(self) -> bool:
        """Whether validation serves labelled source rows (what ``"dev"`` and IWA-style scores need)."""

    def example_input(self) -> Tensor:
        """A small batch of training inputs (after ``setup("fit")``), shown to the networks before training."""

    def check_labels(self, num_classes: int) -> None:
        """Raise ``DataError`` when a source label lies outside ``[0, num_classes)``."""

    def unscale_targets(self, values: Tensor) -> Tensor:
        """Regression labels or predictions back in the units the data was read in (identity if unscaled)."""

    def prediction_ids(self) -> tuple[str, Any] | None:
        """``(column name, one id per predicted row)``, or ``None`` where the rows have no ids."""

    def model_inputs(self, input_shape: Any = None) -> Any:
        """What a deployed model's raw input is: a [`ModelInputs`][dann_lightning.preprocessing.ModelInputs]
        (shape, the preprocessing to fold in, feature and class names)."""


MEMBERS = ("task", "classes", "num_classes", "num_sources", "has_source_val", "example_input", "check_labels",
           "unscale_targets", "prediction_ids", "model_inputs")


def domain_data(datamodule: object) -> DomainData | None:
    """``datamodule`` when it has every member of [`DomainData`][dann_lightning.data.contract.DomainData],
    else ``None``.

    Members are looked up without running them (``inspect.getattr_static``): some properties read
    files or need ``setup`` first, which a membership test must not trigger. The answer for a class
    is remembered (the model asks at every evaluation batch); an instance is searched only when its
    class lacks a member.
    """
    if datamodule is None:
        return None
    if _class_has_members(type(datamodule)) or _has_members(datamodule):
        return datamodule  # type: ignore[return-value]
    return None


def _has_members(owner: object) -> bool:
    missing = object()
    return all(inspect.getattr_static(owner, name, missing) is not missing for name in MEMBERS)


_class_has_members = functools.cache(_has_members)


def data_providing(what: str, datamodule: object, *, for_what: str, provided_by: str | None = None) -> DomainData:
    """``datamodule`` as [`DomainData`][dann_lightning.data.contract.DomainData], or a
    [`ConfigurationError`][dann_lightning.errors.ConfigurationError] naming what is missing and
    which data modules have it.

    Args:
        what: the member asked for, in words (``"prediction ids"``).
        datamodule: the data module asked.
        for_what: what needs it (``"predict with ids"``).
        provided_by: the data modules that give a useful answer (``"TabularDataModule(id=...)"``);
            default: every ``DomainDataModule``.

    Examples:
        >>> data_providing("prediction ids", object(), for_what="predict", provided_by="TabularDataModule(id=...)")
        Traceback (most recent call last):
        ...
        dann_lightning.errors.ConfigurationError: predict needs the data module's prediction ids, but object does ...
    """
    data = domain_data(datamodule)
    if data is None:
        from dann_lightning.errors import ConfigurationError

        name = type(datamodule).__name__ if datamodule is not None else "no data module"
        have = provided_by or "dann_lightning.data's data modules (DomainDataModule and its subclasses)"
        raise ConfigurationError(
            f"{for_what} needs the data module's {what}, but {name} does not implement the DomainData contract: "
            f"use {have}, or give your data module the members of dann_lightning.data.contract.DomainData"
        )
    return data
