"""The paper's CNNs, domain-specific batch normalisation, the optional ResNet and parameter groups."""

import sys
import types

import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from dann_lightning import DANNLitModule, DomainDataModule
from dann_lightning.domain_head import SOURCE_DOMAIN, TARGET_DOMAIN
from dann_lightning.errors import DANNError
from dann_lightning.nets import (
    MLP,
    DomainBatchNorm,
    DomainDiscriminator,
    MNISTFeatures,
    ResNetFeatures,
    SVHNFeatures,
    parameter_groups,
    set_domain,
)
from tests.conftest import make_trainer


@pytest.mark.parametrize(("size", "features"), [(28, 768), (32, 1200), (16, 48)])
def test_mnist_network_adapts_to_the_input_size(size, features):
    net = MNISTFeatures(image_size=size)
    assert net.out_features == features
    assert net(torch.zeros(2, 3, size, size)).shape == (2, features)


@pytest.mark.parametrize(("size", "features"), [(32, 8192), (28, 128 * 7 * 7), (8, 128 * 2 * 2)])
def test_svhn_network_adapts_to_the_input_size(size, features):
    net = SVHNFeatures(image_size=size, in_channels=1, norm="batch")
    assert net.out_features == features
    assert net(torch.zeros(2, 1, size, size)).shape == (2, features)


def test_sizes_a_network_cannot_take_name_the_size_and_the_network():
    with pytest.raises(
        DANNError,
        match=r"MNISTFeatures cannot take 15x15 images: nothing is left after its pool2; "
        r"it needs image_size >= 16",
    ):
        MNISTFeatures(image_size=15)
    with pytest.raises(DANNError, match=r"SVHNFeatures image_size must be an integer >= 1, got 0"):
        SVHNFeatures(image_size=0)
    net = MNISTFeatures(image_size=28)
    with pytest.raises(
        DANNError,
        match=r"MNISTFeatures was built for \(N, C, 28, 28\) images, got shape "
        r"\(2, 3, 32, 32\)",
    ):
        net(torch.zeros(2, 3, 32, 32))
    with pytest.raises(DANNError, match=r"unknown norm 'layer'; valid: 'none', 'batch', 'domain'"):
        MNISTFeatures(norm="layer")


def test_domain_batch_norm_keeps_statistics_per_domain():
    norm = DomainBatchNorm(2, dims=1).train()
    set_domain(norm, SOURCE_DOMAIN)
    norm(torch.randn(64, 2))
    set_domain(norm, TARGET_DOMAIN)
    norm(torch.randn(64, 2) * 3 + 10)
    source, target = norm.norms
    assert source.running_mean.abs().max() < 0.5 and target.running_mean.min() > 0.5
    norm.eval()
    x = torch.full((4, 2), 10.0)
    set_domain(norm, SOURCE_DOMAIN)
    far = norm(x)
    set_domain(norm, TARGET_DOMAIN)
    assert (norm(x).abs() < far.abs()).all()  # 10 is typical of the target, not of the source
    with pytest.raises(DANNError, match=r"domain must lie in \[0, 2\), got 2"):
        set_domain(norm, 2)


def image_datamodule(n=32, size=16, shift=1.0):
    g = torch.Generator().manual_seed(0)
    y = torch.arange(n) % 2
    xs = torch.randn(n, 3, size, size, generator=g) + y[:, None, None, None]
    xt = torch.randn(n, 3, size, size, generator=g) * 2 + shift + y[:, None, None, None]
    return DomainDataModule(
        source_train=TensorDataset(xs, y),
        target_train=TensorDataset(xt),
        source_val=TensorDataset(xs[:8], y[:8]),
        target_val=TensorDataset(xt[:8], y[:8]),
        target_test=TensorDataset(xt, y),
        batch_size=8,
    )


def cnn_module(norm="domain", feature_pass="separate", **kwargs):
    torch.manual_seed(0)
    features = MNISTFeatures(image_size=16, norm=norm)
    return DANNLitModule(
        feature_extractor=features,
        classifier=MLP(features.out_features, [8], 2),
        discriminator=DomainDiscriminator(features.out_features, [8]),
        num_classes=2,
        feature_pass=feature_pass,
        **kwargs,
    )


def test_dann_trains_domain_batch_norm_with_each_domains_statistics(tmp_path):
    module = cnn_module()
    make_trainer(tmp_path, max_steps=3, limit_val_batches=1).fit(module, image_datamodule())
    first = module.feature_extractor.layers[1]
    source, target = first.norms
    # The target batches (brighter by 1) moved the target statistics, the source batches the source's.
    assert (target.running_mean - source.running_mean).abs().max() > 0.05
    assert source.num_batches_tracked == target.num_batches_tracked == 3
    assert first.domain == TARGET_DOMAIN  # left on the target: forward() is the deployed model


def test_domain_batch_norm_needs_separate_passes():
    with pytest.raises(
        DANNError,
        match=r"DomainBatchNorm layers, which need one pass per domain: set "
        r"feature_pass='separate'",
    ):
        cnn_module(feature_pass="joint")


def fake_torchvision(monkeypatch):
    """A stand-in for torchvision.models: a tiny 'resnet18' with the attributes the wrapper uses."""

    def resnet18(weights=None):
        assert weights is None  # nothing may be downloaded
        net = nn.Module()
        net.conv = nn.Conv2d(3, 4, 3)
        net.fc = nn.Linear(4, 1000)
        net.forward = lambda x: net.fc(net.conv(x).mean((2, 3)))
        return net

    models = types.ModuleType("torchvision.models")
    models.resnet18 = resnet18
    package = types.ModuleType("torchvision")
    package.models = models
    monkeypatch.setitem(sys.modules, "torchvision", package)
    monkeypatch.setitem(sys.modules, "torchvision.models", models)


def test_resnet_without_torchvision_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "torchvision", None)  # import torchvision now fails
    with pytest.raises(DANNError, match=r"ResNetFeatures needs torchvision.*pip install torchvision"):
        ResNetFeatures("resnet18")


def test_resnet_loads_local_weights_without_its_head_and_learns_at_a_tenth(tmp_path, monkeypatch):
    fake_torchvision(monkeypatch)
    donor = sys.modules["torchvision.models"].resnet18()
    torch.save(donor.state_dict(), tmp_path / "resnet18.pth")
    backbone = ResNetFeatures("resnet18", weights=str(tmp_path / "resnet18.pth"))
    torch.testing.assert_close(backbone.backbone.conv.weight, donor.conv.weight)
    assert backbone.out_features == 4 and backbone(torch.zeros(2, 3, 8, 8)).shape == (2, 4)
    assert ResNetFeatures("resnet18").lr_scale == 1.0  # trained from scratch: the full rate

    head = nn.Linear(4, 2)
    groups = parameter_groups(backbone, head)
    assert [g.get("lr_scale", 1.0) for g in groups] == [0.1, 1.0]
    module = DANNLitModule(
        backbone, head, DomainDiscriminator(4, [4]), num_classes=2, optimizer=lambda p: torch.optim.SGD(p, lr=0.5)
    )
    trainer = make_trainer(tmp_path, max_steps=1, limit_val_batches=0)
    trainer.fit(module, image_datamodule(size=8))
    initial = [group["initial_lr"] for group in trainer.optimizers[0].param_groups]
    assert initial == pytest.approx([0.05, 0.5, 0.5])  # backbone, classifier, discriminator


def test_resnet_weights_errors_name_the_file(tmp_path, monkeypatch):
    fake_torchvision(monkeypatch)
    with pytest.raises(DANNError, match=r"weights file .*missing.pth does not exist.*nothing is downloaded"):
        ResNetFeatures("resnet18", weights=str(tmp_path / "missing.pth"))
    torch.save({"conv.weight": torch.zeros(4, 3, 3, 3)}, tmp_path / "other.pth")
    with pytest.raises(DANNError, match=r"weights file .*other.pth does not fit the network: missing \['conv.bias'\]"):
        ResNetFeatures("resnet18", weights=str(tmp_path / "other.pth"))
    with pytest.raises(DANNError, match=r"unknown ResNet arch 'resnet7'; valid: 'resnet18', 'resnet34'"):
        ResNetFeatures("resnet7")


def test_networks_without_groups_keep_a_single_optimizer_group():
    assert parameter_groups(nn.Linear(2, 2), nn.Linear(2, 1)) is None
