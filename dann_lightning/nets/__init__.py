"""Plain ``nn.Module`` building blocks, configurable from YAML (``nn.Sequential`` is not).

| module | what |
|---|---|
| ``nets.mlp`` | ``MLP``, ``DomainDiscriminator``, activations |
| ``nets.domain_norm`` | ``DomainBatchNorm`` and the norm layers of the image networks |
| ``nets.images`` | the paper's CNNs (``MNISTFeatures``, ``SVHNFeatures``) |
| ``nets.backbones`` | ``ResNetFeatures``, local weights, per-network learning rates |
"""

from dann_lightning.nets.backbones import (
    BATCH_NORMS,
    RESNETS,
    ResNetArch,
    ResNetFeatures,
    load_backbone_weights,
    parameter_groups,
    scale_learning_rates,
)
from dann_lightning.nets.domain_norm import (
    NORMS,
    DomainBatchNorm,
    NormName,
    features_of_both_domains,
    features_of_domain,
    has_domain_norm,
    make_norm2d,
    set_domain,
)
from dann_lightning.nets.images import MNISTFeatures, SVHNFeatures
from dann_lightning.nets.mlp import (
    ACTIVATIONS,
    MLP,
    DomainDiscriminator,
    compile_networks,
    default_discriminator,
    make_activation,
)

__all__ = [
    "ACTIVATIONS",
    "BATCH_NORMS",
    "MLP",
    "NORMS",
    "RESNETS",
    "DomainBatchNorm",
    "DomainDiscriminator",
    "MNISTFeatures",
    "NormName",
    "ResNetArch",
    "ResNetFeatures",
    "SVHNFeatures",
    "compile_networks",
    "default_discriminator",
    "features_of_both_domains",
    "features_of_domain",
    "has_domain_norm",
    "load_backbone_weights",
    "make_activation",
    "make_norm2d",
    "parameter_groups",
    "scale_learning_rates",
    "set_domain",
]
