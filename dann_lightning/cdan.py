"""CDANLitModule: conditional domain-adversarial training (Long et al., NeurIPS 2018)."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn
from typing_extensions import override

from dann_lightning.analysis.scores import entropy
from dann_lightning.checks import check_int
from dann_lightning.errors import ConfigurationError
from dann_lightning.losses import domain_loss, weighted_domain_loss
from dann_lightning.module import DANNLitModule
from dann_lightning.widths import has_lazy_weights

MULTILINEAR_LIMIT = 4096  # above this many products, the randomized map (as in the paper)


class CDANLitModule(DANNLitModule):
    """Conditional adversarial domain adaptation: the discriminator sees features *and* predictions.

    Instead of the features ``f``, the discriminator receives the multilinear map ``f ⊗ g`` (the
    flattened outer product) of the features and the class probabilities ``g`` (detached), so
    that aligning the domains also aligns the class-conditional structure. When
    ``feature_dim * num_classes`` exceeds 4096, a randomized multilinear map
    ``(R_f f) ⊙ (R_g g) / sqrt(randomized_dim)`` with fixed random Gaussian ``R_f``, ``R_g`` takes
    its place. With ``entropy_conditioning`` (CDAN+E), each sample's domain loss is weighted by
    ``1 + exp(-H(g))``, normalised within each domain, so that confidently predicted samples
    count more in the alignment.

    Everything else (gradient reversal, schedules, optimization modes, metrics, checkpoints, the
    CLI) is [`DANNLitModule`][dann_lightning.DANNLitModule]'s; its arguments are accepted here too.
    Classification only: the conditioning needs class probabilities.

    Args:
        feature_extractor: maps inputs to ``feature_dim`` features.
        classifier: maps features to ``num_classes`` logits; default: one linear layer.
        discriminator: maps the conditioned input to one logit per sample; its input width is
            [`discriminator_in_features`][dann_lightning.CDANLitModule.discriminator_in_features]
            (``feature_dim * num_classes``, or ``randomized_dim`` with the randomized map); default:
            the one [`DANNLitModule`][dann_lightning.DANNLitModule] builds, its width from the data.
        num_classes: number of classes; default: the data module's, as with ``DANNLitModule``.
        feature_dim: width of the feature extractor's output; default: measured on the first batch
            shown to the networks before training (then kept in the checkpoint).
        entropy_conditioning: weight the domain loss by prediction certainty (CDAN+E).
        randomized: use the randomized multilinear map; default: when
            ``feature_dim * num_classes > 4096``.
        randomized_dim: output width of the randomized map.
        **kwargs: the options of [`DANNLitModule`][dann_lightning.DANNLitModule].
    """

    needs_target_predictions = True

    def __init__(
        self,
        feature_extractor: nn.Module,
        classifier: nn.Module | None = None,
        discriminator: nn.Module | None = None,
        *,
        num_classes: int | None = None,
        feature_dim: int | None = None,
        entropy_conditioning: bool = True,
        randomized: bool | None = None,
        randomized_dim: int = 1024,
        **kwargs: Any,
    ) -> None:
        if kwargs.get("num_sources", 1) != 1:
            raise ConfigurationError(
                f"CDANLitModule takes one source domain, got num_sources={kwargs['num_sources']!r}; "
                "for several sources use DANNLitModule(num_sources=...)"
            )
        if kwargs.get("task", "classification") != "classification":
            raise ConfigurationError(
                f"CDANLitModule conditions its discriminator on class probabilities: task={kwargs['task']!r} "
                "does not apply; for regression use DANNLitModule(task='regression')"
            )
        for name, value in [("feature_dim", feature_dim), ("randomized_dim", randomized_dim)]:
            if value is not None:
                check_int(f"CDANLitModule {name}", value, minimum=1)
        self.feature_dim: int | None = None
        super().__init__(feature_extractor, classifier, discriminator, num_classes=num_classes, **kwargs)
        if feature_dim is not None and num_classes is not None:
            self._condition_on(feature_dim)

    def _condition_on(self, feature_dim: int) -> None:
        """Fix the conditioning for ``feature_dim`` features (known at build, or from the first batch)."""
        hp = self.hparams
        self.feature_dim = hp.feature_dim = feature_dim  # in the hyperparameters: a checkpoint rebuilds at once
        randomized = feature_dim * self.num_classes > MULTILINEAR_LIMIT if hp.randomized is None else hp.randomized
        self.randomized = bool(randomized)
        if self.randomized:
            # Fixed once, kept in the state dict: a reloaded model maps its inputs the same way.
            generator = torch.Generator().manual_seed(0)
            features = torch.randn(feature_dim, hp.randomized_dim, generator=generator)
            self.register_buffer("random_features", features.to(self.device))
            self.register_buffer(
                "random_classes", torch.randn(self.num_classes, hp.randomized_dim, generator=generator).to(self.device)
            )
        expected = self.discriminator_in_features
        width = _first_linear_width(self.discriminator)
        if width is not None and width != expected:
            how = (
                f"randomized_dim={hp.randomized_dim}" if self.randomized else f"feature_dim * num_classes = {expected}"
            )
            raise ConfigurationError(
                f"CDANLitModule's discriminator must take {expected} inputs ({how}), but its first linear layer "
                f"takes {width}"
            )

    @property
    def discriminator_in_features(self) -> int:
        """The input width the discriminator must accept."""
        if self.randomized:
            return self.random_features.shape[1]
        return self.feature_dim * self.num_classes

    @override
    def discriminator_input(self, features: Tensor, class_logits: Tensor) -> Tensor:
        features = features.flatten(1)
        if self.feature_dim is None:  # the first batch, shown before training: the width of the data
            self._condition_on(features.shape[1])
        if features.shape[1] != self.feature_dim:
            raise ConfigurationError(
                f"CDANLitModule feature_dim={self.feature_dim}, but the feature extractor returns "
                f"{features.shape[1]} features per sample"
            )
        probs = torch.softmax(class_logits.detach().float(), dim=1).to(features.dtype)
        if self.randomized:
            projected = (features @ self.random_features.to(features.dtype)) * (
                probs @ self.random_classes.to(features.dtype)
            )
            return projected / math.sqrt(self.random_features.shape[1])
        return torch.bmm(probs.unsqueeze(2), features.unsqueeze(1)).flatten(1)

    @override
    def adversarial_loss(
        self, domain_logits: Tensor, labels: Tensor, class_logits: Tensor, source_weights: Tensor | None = None
    ) -> Tensor:
        if not self.hparams.entropy_conditioning:
            return weighted_domain_loss(domain_logits, labels, source_weights)
        certainty = 1.0 + torch.exp(-entropy(torch.softmax(class_logits.detach().float(), dim=1)))
        # Each domain's weights sum to one, as in the reference implementation: the domains count
        # equally whatever their batch sizes.
        target = labels == self.domain_head.target_id
        if source_weights is not None:  # label-shift correction: source rows weighed by their class
            certainty = certainty * torch.cat([source_weights, certainty.new_ones(int(target.sum()))])
        weights = torch.where(target, certainty / certainty[target].sum(), certainty / certainty[~target].sum())
        per_sample = domain_loss(domain_logits, labels, reduction="none")
        return (weights * per_sample).sum() / weights.sum()


def _first_linear_width(module: nn.Module) -> int | None:
    """The input width of the first linear layer, or ``None`` (none, or a lazy one: it takes the data's)."""
    for layer in module.modules():
        if isinstance(layer, nn.Linear):
            return None if has_lazy_weights(layer) else layer.in_features
    return None
