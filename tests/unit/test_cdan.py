import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from dann_lightning import CDANLitModule
from dann_lightning.errors import ConfigurationError
from dann_lightning.nets import MLP, DomainDiscriminator
from tests.conftest import make_datamodule, make_trainer


def cdan(feature_dim=4, num_classes=2, disc_in=None, **kwargs) -> CDANLitModule:
    torch.manual_seed(0)
    return CDANLitModule(
        MLP(2, [feature_dim], activation="tanh"),
        nn.Linear(feature_dim, num_classes),
        DomainDiscriminator(disc_in or feature_dim * num_classes, [8]),
        num_classes=num_classes,
        feature_dim=feature_dim,
        optimizer=lambda params: torch.optim.Adam(params, lr=1e-2),
        **kwargs,
    )


def test_the_discriminator_sees_the_outer_product_of_features_and_probabilities():
    module = cdan(feature_dim=3, num_classes=2)
    features = torch.tensor([[1.0, 2.0, 3.0]])
    logits = torch.tensor([[0.0, math.log(3.0)]])  # probabilities 0.25, 0.75
    expected = torch.tensor([[0.25, 0.5, 0.75, 0.75, 1.5, 2.25]])
    torch.testing.assert_close(module.discriminator_input(features, logits), expected)


def test_a_large_product_switches_to_the_randomized_map():
    module = cdan(feature_dim=100, num_classes=50, disc_in=1024)
    assert module.randomized and module.discriminator_in_features == 1024
    features, logits = torch.randn(5, 100), torch.randn(5, 50)
    mapped = module.discriminator_input(features, logits)
    probs = torch.softmax(logits, dim=1)
    expected = (features @ module.random_features) * (probs @ module.random_classes) / math.sqrt(1024)
    torch.testing.assert_close(mapped, expected)
    # The random matrices are part of the state: a reload maps inputs identically.
    assert {"random_features", "random_classes"} <= set(module.state_dict())


def test_entropy_conditioning_weights_confident_samples_more_within_each_domain():
    module = cdan()
    domain_logits = torch.tensor([0.3, -0.2, 0.1, 0.4])
    labels = torch.tensor([0.0, 0.0, 1.0, 1.0])
    class_logits = torch.tensor([[9.0, -9.0], [0.0, 0.0], [0.0, 0.0], [-9.0, 9.0]])  # confident, unsure, ...
    per_sample = F.binary_cross_entropy_with_logits(domain_logits, labels, reduction="none")
    certainty = 1 + torch.exp(-torch.tensor([0.0, math.log(2), math.log(2), 0.0]))
    weights = torch.cat([certainty[:2] / certainty[:2].sum(), certainty[2:] / certainty[2:].sum()])
    expected = (weights * per_sample).sum() / weights.sum()
    got = module.adversarial_loss(domain_logits, labels, class_logits)
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-6)
    plain = cdan(entropy_conditioning=False).adversarial_loss(domain_logits, labels, class_logits)
    torch.testing.assert_close(plain, per_sample.mean())


def test_a_discriminator_of_the_wrong_width_is_named():
    with pytest.raises(ConfigurationError, match=r"must take 8 inputs \(feature_dim \* num_classes = 8\).*takes 4"):
        cdan(feature_dim=4, num_classes=2, disc_in=4)
    with pytest.raises(ConfigurationError, match=r"feature_dim must be an integer >= 1, got 0"):
        CDANLitModule(MLP(2, [4]), nn.Linear(4, 2), DomainDiscriminator(8), num_classes=2, feature_dim=0)


@pytest.mark.bad_input
def test_several_sources_are_refused_with_the_alternative_named():
    with pytest.raises(ConfigurationError, match=r"one source domain, got num_sources=2.*DANNLitModule\(num_sources"):
        cdan(num_sources=2)


@pytest.mark.bad_input
def test_regression_is_refused_with_the_alternative_named():
    message = r"class probabilities: task='regression' does not apply.*DANNLitModule\(task='regression'\)"
    with pytest.raises(ConfigurationError, match=message):
        cdan(task="regression")


def test_cdan_chooses_lambda_automatically(tmp_path):
    module = cdan(lambda_max="auto", lambda_candidates=(0.0, 1.0))
    trainer = make_trainer(tmp_path, max_epochs=1)
    trainer.fit(module, make_datamodule())
    assert module.lambda_search.chosen_lambda in (0.0, 1.0)
    assert trainer.callback_metrics["val/auto/lambda_max"].item() == module.lambda_search.chosen_lambda


@pytest.mark.parametrize(("width", "randomized"), [(16, False), (2100, True)])
def test_cdan_takes_every_width_from_the_data_and_its_checkpoint_rebuilds_at_once(tmp_path, width, randomized):
    """No num_classes, feature_dim, classifier or discriminator: DANNLitModule's widths-from-data hold for
    CDAN too; feature_dim is measured on the first batch, and past 4096 products the map is randomized."""
    torch.manual_seed(0)
    module = CDANLitModule(MLP(None, [width], activation="tanh"), entropy_conditioning=False)
    trainer = make_trainer(tmp_path, max_epochs=1)
    trainer.fit(module, make_datamodule(n=32))
    assert (module.hparams.num_classes, module.hparams.feature_dim, module.randomized) == (2, width, randomized)
    assert module.discriminator_in_features == (1024 if randomized else 2 * width)
    path = tmp_path / "cdan.ckpt"
    trainer.save_checkpoint(path)
    restored = CDANLitModule.load_from_checkpoint(path, feature_extractor=MLP(2, [width], activation="tanh"))
    x = torch.randn(8, 2)
    module.eval()
    restored.eval()
    with torch.no_grad():
        torch.testing.assert_close(restored(x), module(x))
        features = module.feature_extractor(x)
        torch.testing.assert_close(
            restored.discriminator_input(features, module(x)), module.discriminator_input(features, module(x))
        )
