"""What one candidate trains with: its ``lambda_max`` and the target objectives beside the
adversarial loss. ``lambda_candidates`` lists them: numbers (a ``lambda_max`` each, with the
model's own objectives; 0 is source-only) or mappings of these settings."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields, replace
from typing import Any

from dann_lightning.checks import check_real
from dann_lightning.errors import ConfigurationError


@dataclass(frozen=True)
class CandidateSetting:
    """One candidate's training objective.

    Attributes:
        lambda_max: final weight of the reversed domain gradient.
        mcc_weight: weight of the minimum class confusion loss on target predictions (Jin et al., 2020).
        entropy_weight: weight of the target prediction entropy (entropy minimisation).
        label_shift: reweigh source rows by estimated target / source class ratios (IWDAN).

    Examples:
        >>> CandidateSetting(0.1, mcc_weight=1.0).name, CandidateSetting(0.0).source_only
        ('lambda_0.1_mcc_1', True)
    """

    lambda_max: float
    mcc_weight: float = 0.0
    entropy_weight: float = 0.0
    label_shift: bool = False

    @property
    def source_only(self) -> bool:
        """Whether it trains on the labelled source alone (the target unused)."""
        return self == CandidateSetting(0.0)

    @property
    def reads_target_predictions(self) -> bool:
        """Whether its loss needs the classifier's outputs on target rows."""
        return self.mcc_weight > 0 or self.entropy_weight > 0 or self.label_shift

    @property
    def name(self) -> str:
        """A short name for logs: ``lambda_<v>`` and each objective it adds."""
        parts = [f"lambda_{self.lambda_max:g}"]
        if self.mcc_weight:
            parts.append(f"mcc_{self.mcc_weight:g}")
        if self.entropy_weight:
            parts.append(f"entropy_{self.entropy_weight:g}")
        if self.label_shift:
            parts.append("label_shift")
        return "_".join(parts)


SETTING_KEYS = tuple(field.name for field in fields(CandidateSetting))
"""What a mapping in ``lambda_candidates`` may set."""


def candidate_settings(candidates: Sequence[Any], objectives: Mapping[str, Any]) -> list[CandidateSetting]:
    """Each entry of ``lambda_candidates`` as a setting: a number is a ``lambda_max`` with the model's
    ``objectives`` (none for 0, source-only); a mapping overrides any of
    [`SETTING_KEYS`][dann_lightning.candidate_settings.SETTING_KEYS] (``lambda_max`` required).

    Raises:
        ConfigurationError: an unknown key, a bad value, no source-only candidate, or a repeat.

    Examples:
        >>> [s.name for s in candidate_settings([0, 0.3, {"lambda_max": 0.1, "mcc_weight": 1}], {})]
        ['lambda_0', 'lambda_0.3', 'lambda_0.1_mcc_1']
    """
    if isinstance(candidates, str | Mapping) or not isinstance(candidates, Sequence) or len(candidates) < 2:
        raise ConfigurationError(
            "lambda_candidates must be a list of at least two candidates (lambda_max values, or mappings of "
            f"{', '.join(SETTING_KEYS)}) including 0, source-only; got {candidates!r}"
        )
    model_default = CandidateSetting(0.0, **objectives)
    settings = [_setting(index, entry, model_default) for index, entry in enumerate(candidates)]
    if not any(setting.source_only for setting in settings):
        raise ConfigurationError(
            "lambda_candidates must include 0 (source-only training, the model kept when adaptation does not "
            f"help), got {list(candidates)!r}"
        )
    names = [setting.name for setting in settings]
    if len(set(names)) != len(names):
        raise ConfigurationError(f"lambda_candidates must not repeat a setting, got {names}")
    return settings


def _setting(index: int, entry: Any, model_default: CandidateSetting) -> CandidateSetting:
    where = f"lambda_candidates[{index}]"
    if isinstance(entry, Mapping):
        unknown = sorted(set(entry) - set(SETTING_KEYS))
        if unknown or "lambda_max" not in entry:
            raise ConfigurationError(
                f"{where} must map lambda_max and optionally {', '.join(SETTING_KEYS[1:])}; "
                f"got {dict(entry)!r}" + (f" (unknown: {', '.join(unknown)})" if unknown else "")
            )
        setting = replace(model_default, **entry)
    else:
        check_real(where, entry, minimum=0.0)
        setting = replace(model_default, lambda_max=float(entry)) if entry else CandidateSetting(0.0)
    check_setting(setting, where)
    return replace(setting, lambda_max=float(setting.lambda_max))


def check_setting(setting: CandidateSetting, where: str) -> None:
    """Raise ConfigurationError naming a bad value of ``setting``."""
    check_real(f"{where} lambda_max", setting.lambda_max, minimum=0.0)
    check_real(f"{where} mcc_weight", setting.mcc_weight, minimum=0.0)
    check_real(f"{where} entropy_weight", setting.entropy_weight, minimum=0.0)
    if not isinstance(setting.label_shift, bool):
        raise ConfigurationError(f"{where} label_shift must be true or false, got {setting.label_shift!r}")


__all__ = ["SETTING_KEYS", "CandidateSetting", "candidate_settings", "check_setting"]
