"""The pretrained-backbone recipe: learning-rate multipliers, the bottleneck, frozen batch norm,
a backbone by import path and its local weights."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from dann_lightning import DANNLitModule
from dann_lightning.errors import ConfigurationError, DANNError
from dann_lightning.nets import MLP, Backbone, DomainDiscriminator, WithBottleneck
from tests.conftest import make_datamodule, make_module, make_trainer


class TinyClassifier(nn.Module):
    """A stand-in for a torchvision classifier: features, then its ``fc`` head (and batch norm)."""

    def __init__(self, num_classes: int = 5, weights: str | None = None) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(2, 6), nn.BatchNorm1d(6), nn.ReLU())
        self.fc = nn.Linear(6, num_classes)
        self.weights = weights

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.body(x))


STAND_IN = f"{__name__}.TinyClassifier"


def sgd(params):
    return torch.optim.SGD(params, lr=0.5)


def initial_rates(trainer) -> list[list[float]]:
    """Each optimizer's ``initial_lr`` per group, and how many parameters each group holds."""
    return [
        [(round(group["initial_lr"], 9), len(group["params"])) for group in opt.param_groups]
        for opt in trainer.optimizers
    ]


def fit_one_step(tmp_path, module):
    trainer = make_trainer(tmp_path, max_steps=1, limit_val_batches=1)
    trainer.fit(module, make_datamodule())
    return trainer


def test_lr_multipliers_scale_each_network_in_automatic_mode(tmp_path):
    module = make_module(optimizer=sgd, lr_multipliers={"feature_extractor": 0.1, "discriminator": 2.0})
    rates = initial_rates(fit_one_step(tmp_path, module))
    # MLP(2, [16]): 2 parameters; the linear classifier: 2; the discriminator: 4.
    assert sorted(rates[0]) == sorted([(0.05, 2), (0.5, 2), (1.0, 4)])


def test_lr_multipliers_scale_each_network_in_manual_mode(tmp_path):
    module = make_module(optimizer=sgd, optimization="manual", lr_multipliers={"feature_extractor": 0.1})
    main, discriminator = initial_rates(fit_one_step(tmp_path, module))
    assert sorted(main) == sorted([(0.05, 2), (0.5, 2)])
    assert discriminator == [(0.5, 4)]


def test_lr_multipliers_reach_every_candidate_of_the_lambda_search(tmp_path):
    lambdas = [0.0, 0.3]
    module = make_module(optimizer=sgd, lambda_max="auto", lambda_candidates=lambdas, lr_multipliers={"classifier": 0})
    initial = module.classifier.weight.detach().clone()
    (groups,) = initial_rates(fit_one_step(tmp_path, module))
    assert sorted(groups) == sorted([(0.0, 2 * len(lambdas)), (0.5, (2 + 4) * len(lambdas))])
    for nets in module.candidates.trained(module):  # copies of the networks: the rate 0 reached them
        torch.testing.assert_close(nets.classifier.weight, initial)


def test_without_lr_multipliers_the_optimizer_keeps_one_group(tmp_path):
    (groups,) = initial_rates(fit_one_step(tmp_path, make_module(optimizer=sgd)))
    assert groups == [(0.5, 8)]


def test_lr_multipliers_naming_an_unknown_network_lists_the_valid_ones():
    with pytest.raises(
        ConfigurationError,
        match=r"lr_multipliers names 'backbone', which is not a network of the model; valid: feature_extractor, "
        r"classifier, discriminator \(bottleneck with bottleneck_dim\)",
    ):
        make_module(lr_multipliers={"backbone": 0.1})
    with pytest.raises(ConfigurationError, match=r"lr_multipliers\['classifier'\] must be a finite number >= 0"):
        make_module(lr_multipliers={"classifier": -1.0})
    make_module(lr_multipliers={"bottleneck": 1.0}, bottleneck_dim=4)  # valid once there is a bottleneck


def test_bottleneck_is_linear_batch_norm_relu_dropout_and_learns_at_its_own_rate(tmp_path):
    torch.manual_seed(0)
    module = DANNLitModule(
        MLP(2, [16]),
        nn.Linear(8, 2),
        DomainDiscriminator(8, [8]),
        num_classes=2,
        optimizer=sgd,
        bottleneck_dim=8,
        lr_multipliers={"feature_extractor": 0.1},
    )
    features = module.feature_extractor
    assert isinstance(features, WithBottleneck) and features.out_features == 8
    assert [type(layer) for layer in features.bottleneck] == [nn.Linear, nn.BatchNorm1d, nn.ReLU, nn.Dropout]
    assert features.bottleneck[0].in_features == 16 and features.bottleneck[3].p == 0.5
    (groups,) = initial_rates(fit_one_step(tmp_path, module))
    # MLP: 2 tensors at 0.1x; bottleneck (linear + batch norm: 4), classifier (2), discriminator (4) at 1x.
    assert sorted(groups) == sorted([(0.05, 2), (0.5, 10)])


def test_freeze_batch_norm_keeps_the_feature_extractors_statistics(tmp_path):
    torch.manual_seed(0)
    features = nn.Sequential(nn.Linear(2, 16), nn.BatchNorm1d(16), nn.Tanh())
    module = DANNLitModule(
        features,
        nn.Linear(16, 2),
        num_classes=2,
        freeze_batch_norm=True,
        lambda_max="auto",
        lambda_candidates=[0.0, 0.5],
    )
    before = features[1].running_mean.clone()
    fit_one_step(tmp_path, module)
    for nets in [module, *module.candidates.trained(module)]:
        torch.testing.assert_close(nets.feature_extractor[1].running_mean, before)
    # Without the option the statistics move.
    other = DANNLitModule(nn.Sequential(nn.Linear(2, 16), nn.BatchNorm1d(16)), nn.Linear(16, 2), num_classes=2)
    fit_one_step(tmp_path, other)
    assert not torch.equal(other.feature_extractor[1].running_mean, torch.zeros(16))


def test_backbone_by_import_path_drops_its_head_and_is_marked_pretrained():
    backbone = Backbone(STAND_IN, weights="IMAGENET1K_V1")
    assert backbone.network.weights == "IMAGENET1K_V1"  # passed to the constructor
    assert isinstance(backbone.network.fc, nn.Identity) and backbone.out_features == 6
    assert backbone.pretrained and not Backbone(STAND_IN).pretrained
    assert backbone(torch.zeros(3, 2)).shape == (3, 6)


def test_backbone_errors_name_what_is_wrong():
    with pytest.raises(DANNError, match=r"cannot import no_such_package .*pip install"):
        Backbone("no_such_package.resnet50")
    with pytest.raises(ConfigurationError, match=r"torch.nn has no 'resnet'"):
        Backbone("torch.nn.resnet")
    with pytest.raises(ConfigurationError, match=r"has none of the heads \['fc', 'classifier', 'head', 'heads'\]"):
        Backbone("torch.nn.Sequential")


def test_backbone_loads_local_weights_and_names_the_first_mismatched_keys(tmp_path):
    torch.manual_seed(1)
    donor = TinyClassifier(num_classes=9)  # another head: ignored
    torch.save(donor.state_dict(), tmp_path / "good.pth")
    backbone = Backbone(STAND_IN, weights_path=str(tmp_path / "good.pth"))
    torch.testing.assert_close(backbone.network.body[0].weight, donor.body[0].weight)
    assert backbone.pretrained

    wrong = {"body.0.weight": torch.zeros(7, 2), "body.9.weight": torch.zeros(1)}
    torch.save(wrong, tmp_path / "wrong.pth")
    with pytest.raises(
        DANNError,
        match=r"weights file .*wrong.pth does not fit the network: missing \['body.0.bias', 'body.1.weight', "
        r"'body.1.bias', 'body.1.running_mean', 'body.1.running_var'\] \(and 1 more\), unexpected \['body.9.weight'\], "
        r"other shapes \['body.0.weight: file \(7, 2\), network \(6, 2\)'\]",
    ):
        Backbone(STAND_IN, weights_path=str(tmp_path / "wrong.pth"))
