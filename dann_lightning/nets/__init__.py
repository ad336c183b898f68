"""Plain ``nn.Module`` building blocks, configurable from YAML (``nn.Sequential`` is not).

| module | what |
|---|---|
| ``nets.mlp`` | ``MLP``, ``DomainDiscriminator``, activations |
| ``nets.domain_norm`` | ``DomainBatchNorm`` and the norm layers of the image networks |
| ``nets.images`` | the paper's CNNs (``MNISTFeatures``, ``SVHNFeatures``) |
| ``nets.backbones`` | ``ResNetFeatures``, local weights, per-network learning rates |
| ``nets.pretrained`` | ``Backbone``: any network by import path, its head removed, its weights |
| ``nets.recipe`` | the pretrained-backbone recipe: ``lr_multipliers``, bottleneck, frozen batch norm |
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
from dann_lightning.nets.pretrained import Backbone
from dann_lightning.nets.recipe import WithBottleneck, freeze_batch_norm_statistics

__all__ = [
    "ACTIVATIONS",
    "BATCH_NORMS",
    "MLP",
    "NORMS",
    "RESNETS",
    "Backbone",
    "DomainBatchNorm",
    "DomainDiscriminator",
    "MNISTFeatures",
    "NormName",
    "ResNetArch",
    "ResNetFeatures",
    "SVHNFeatures",
    "WithBottleneck",
    "compile_networks",
    "default_discriminator",
    "features_of_both_domains",
    "features_of_domain",
    "freeze_batch_norm_statistics",
    "has_domain_norm",
    "load_backbone_weights",
    "make_activation",
    "make_norm2d",
    "parameter_groups",
    "scale_learning_rates",
    "set_domain",
]
