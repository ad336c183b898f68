"""Batch normalisation with statistics per domain, and the norm layers the image networks choose from."""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn

from dann_lightning.checks import check_choice, choices_of
from dann_lightning.domain_head import SOURCE_DOMAIN, TARGET_DOMAIN
from dann_lightning.errors import ConfigurationError

NormName = Literal["none", "batch", "domain"]


NORMS = choices_of(NormName)


class DomainBatchNorm(nn.Module):
    """Domain-specific batch normalisation (DSBN, Chang et al., CVPR 2019): one ``BatchNorm`` per
    domain, each with its own affine parameters and running statistics.

    [`DANNLitModule`][dann_lightning.DANNLitModule] switches every ``DomainBatchNorm`` of the feature extractor
    to the domain of the batch it passes (source or target; this needs ``feature_pass="separate"``),
    evaluates each validation loader with its own domain's statistics, and leaves them on the target
    otherwise: the deployed model normalises with target statistics. Other code switches them with
    [`set_domain`][dann_lightning.nets.set_domain].

    Args:
        num_features: channels (``C`` of ``(N, C, ...)``).
        dims: 1 for ``(N, C)`` or ``(N, C, L)`` inputs (``BatchNorm1d``), 2 for images (``BatchNorm2d``).
        num_domains: how many domains (0 = source, 1 = target).

    Examples:
        >>> import torch
        >>> from dann_lightning.domain_head import SOURCE_DOMAIN, TARGET_DOMAIN
        >>> norm = DomainBatchNorm(4)
        >>> _ = norm.train()(torch.randn(8, 4, 5, 5) + 3)  # the target's statistics move ...
        >>> norm.norms[TARGET_DOMAIN].running_mean.mean() > 0.2, norm.norms[SOURCE_DOMAIN].running_mean.abs().max() == 0
        (tensor(True), tensor(True))
    """

    def __init__(self, num_features: int, dims: int = 2, num_domains: int = 2) -> None:
        super().__init__()
        if dims not in (1, 2):
            raise ConfigurationError(f"DomainBatchNorm dims must be 1 or 2, got {dims!r}")
        norm = nn.BatchNorm1d if dims == 1 else nn.BatchNorm2d
        self.norms = nn.ModuleList(norm(num_features) for _ in range(num_domains))
        self.domain = TARGET_DOMAIN

    def forward(self, x: Tensor) -> Tensor:
        return self.norms[self.domain](x)


def set_domain(module: nn.Module, domain: int) -> None:
    """Switch every [`DomainBatchNorm`][dann_lightning.nets.DomainBatchNorm] inside ``module`` to ``domain``
    (0 source, 1 target)."""
    for layer in module.modules():
        if isinstance(layer, DomainBatchNorm):
            if not 0 <= domain < len(layer.norms):
                raise ConfigurationError(f"domain must lie in [0, {len(layer.norms)}), got {domain!r}")
            layer.domain = domain


def has_domain_norm(module: nn.Module) -> bool:
    """Whether ``module`` holds a [`DomainBatchNorm`][dann_lightning.nets.DomainBatchNorm]."""
    return any(isinstance(layer, DomainBatchNorm) for layer in module.modules())


def make_norm2d(norm: NormName, channels: int) -> nn.Module:
    """``"none"`` (identity), ``"batch"`` (``BatchNorm2d``) or ``"domain"``
    ([`DomainBatchNorm`][dann_lightning.nets.DomainBatchNorm])."""
    check_choice("norm", norm, NormName)
    if norm == "none":
        return nn.Identity()
    if norm == "batch":
        return nn.BatchNorm2d(channels)
    return DomainBatchNorm(channels)


# ---------------------------------------------------------------------- the paper's CNNs


def features_of_both_domains(feature_extractor: nn.Module, x_s: Tensor, x_t: Tensor, feature_pass: str) -> Tensor:
    """Features of source then target rows: one pass over both (``"joint"``), or one per domain
    (``"separate"``: batch statistics per domain, each ``DomainBatchNorm`` switched to its domain)."""
    if feature_pass == "separate":
        set_domain(feature_extractor, SOURCE_DOMAIN)
        source = feature_extractor(x_s)
        set_domain(feature_extractor, TARGET_DOMAIN)
        return torch.cat([source, feature_extractor(x_t)])
    return feature_extractor(torch.cat([x_s, x_t]))


def features_of_domain(feature_extractor: nn.Module, x: Tensor, domain: str) -> Tensor:
    """Features of rows of one domain (``"target"``, or a source's name), with each ``DomainBatchNorm``
    on that domain's statistics; afterwards on the target's, where the deployed model runs."""
    set_domain(feature_extractor, TARGET_DOMAIN if domain == "target" else SOURCE_DOMAIN)
    features = feature_extractor(x)
    set_domain(feature_extractor, TARGET_DOMAIN)
    return features
