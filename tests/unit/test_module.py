import copy

import lightning as L
import pytest
import torch
import torch.nn.functional as F
from lightning.pytorch.utilities import CombinedLoader
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from dann_lightning import DANNLitModule
from dann_lightning.errors import DANNError
from tests.conftest import blobs, make_datamodule, make_module, make_trainer, tiny_networks

# train/loss is logged every step and averaged over the epoch: Lightning keeps `train/loss_step`,
# `train/loss_epoch` and `train/loss` (the latest of the two) for monitors and the progress bar.
# The rest are epoch means (lambda and lr: their value at the epoch's last batch).
TRAIN_NAMES = {"train/loss", "train/loss_step", "train/loss_epoch"} | {
    f"train/{name}" for name in ("cls_loss", "domain_loss", "domain_acc", "lambda", "lr")
}
VAL_NAMES = {"val/source_acc", "val/target_acc", "val/domain_acc"}
SELECTION_NAMES = {"val/entropy", "val/im", "val/snd", "val/dev"}


class CaptureGradients(L.Callback):
    NETWORKS = ("feature_extractor", "classifier", "discriminator")

    def __init__(self):
        self.grads = {}

    def on_before_optimizer_step(self, trainer, pl_module, optimizer):
        for name in ("feature_extractor", "classifier", "discriminator"):
            self.grads[name] = [p.grad.clone() for p in getattr(pl_module, name).parameters()]


def trained_parameters(module):
    return torch.cat([p.detach().flatten() for p in module.parameters()])


def test_one_step_gives_finite_losses_and_gradients_in_all_three_networks(tmp_path):
    capture = CaptureGradients()
    module = make_module(lambda_schedule="constant")
    trainer = make_trainer(tmp_path, callbacks=[capture], max_steps=1, log_every_n_steps=1, limit_val_batches=0)
    trainer.fit(module, make_datamodule())
    for name in ("train/loss", "train/cls_loss", "train/domain_loss"):
        assert torch.isfinite(trainer.callback_metrics[name])
    for name, grads in capture.grads.items():
        assert all(torch.isfinite(g).all() for g in grads), name
        assert sum(g.abs().sum() for g in grads) > 0, f"{name} got no gradient"
    loss = trainer.callback_metrics
    assert loss["train/loss"] == pytest.approx(float(loss["train/cls_loss"] + loss["train/domain_loss"]), rel=1e-6)


def test_the_training_step_reverses_the_domain_gradient_into_the_features_only(tmp_path):
    """The step's gradient, captured before the optimizer steps, against the two losses' own
    gradients from the same weights: features get d(cls) - lambda d(dom), the discriminator +d(dom)."""
    capture = CaptureGradients()
    module = make_module(lambda_schedule="constant", lambda_max=0.7)
    start = {name: copy.deepcopy(getattr(module, name).state_dict()) for name in CaptureGradients.NETWORKS}
    data = make_datamodule(n=16, batch_size=16)  # one batch holds every row: order does not matter
    trainer = make_trainer(tmp_path, callbacks=[capture], max_steps=1, limit_val_batches=0)
    trainer.fit(module, data)

    fresh = make_module()
    for name, state in start.items():
        getattr(fresh, name).load_state_dict(state)
    xs, ys = data.source_train.tensors
    (xt,) = data.target_train.tensors

    def gradients(loss):
        fresh.zero_grad()
        loss.backward()
        grads = {name: list(getattr(fresh, name).parameters()) for name in capture.grads}
        return {name: [torch.zeros_like(p) if p.grad is None else p.grad for p in ps] for name, ps in grads.items()}

    features = fresh.feature_extractor(torch.cat([xs, xt]))
    domains = torch.cat([torch.zeros(16), torch.ones(16)])
    cls = gradients(F.cross_entropy(fresh.classifier(features[:16]), ys))
    features = fresh.feature_extractor(torch.cat([xs, xt]))
    dom = gradients(F.binary_cross_entropy_with_logits(fresh.discriminator(features), domains))
    step = capture.grads["feature_extractor"]
    for step_grad, c, d in zip(step, cls["feature_extractor"], dom["feature_extractor"], strict=True):
        torch.testing.assert_close(step_grad, c - 0.7 * d)
    for step, d in zip(capture.grads["discriminator"], dom["discriminator"], strict=True):
        torch.testing.assert_close(step, d)


def domain_data(datamodule):
    x_s = datamodule.source_train.tensors[0]
    x_t = datamodule.target_train.tensors[0]
    return torch.cat([x_s, x_t]), torch.cat([torch.zeros(len(x_s)), torch.ones(len(x_t))])


def discriminator_loss(module, x, labels):
    logits = module.discriminator(module.feature_extractor(x).detach())
    return F.binary_cross_entropy_with_logits(logits, labels)


@pytest.mark.parametrize("lambda_max", [1.0, 0.0])
def test_steps_on_the_feature_extractor_alone_raise_the_discriminator_loss(tmp_path, lambda_max):
    module = make_module(lambda_max=lambda_max, lambda_schedule="constant", lr_schedule="constant")
    datamodule = make_datamodule()
    datamodule.setup("fit")
    x, labels = domain_data(datamodule)
    # First a discriminator that tells the domains apart, then frozen: it is not in the optimizer.
    head = torch.optim.Adam(module.discriminator.parameters(), lr=1e-2)
    for _ in range(200):
        head.zero_grad()
        discriminator_loss(module, x, labels).backward()
        head.step()
    # Zero classifier weights pass no classification gradient back to the features, and the
    # optimizer holds only the feature extractor: its one remaining signal is the reversed domain loss.
    nn.init.zeros_(module.classifier.weight)
    nn.init.zeros_(module.classifier.bias)
    module.optimizer_factory = lambda _: torch.optim.SGD(module.feature_extractor.parameters(), lr=0.1)
    before_weights = trained_parameters(module.feature_extractor)
    with torch.no_grad():
        before = discriminator_loss(module, x, labels).item()
    make_trainer(tmp_path, max_epochs=5, limit_val_batches=0).fit(module, datamodule)
    with torch.no_grad():
        after = discriminator_loss(module, x, labels).item()
    if lambda_max:
        assert before < 0.6
        assert after > before + 0.05
    else:
        assert torch.equal(trained_parameters(module.feature_extractor), before_weights)


def test_target_labels_are_never_used(tmp_path):
    xt, yt = blobs(64, shift=0.5, seed=2)
    weights = []
    for target_labels in (yt, torch.randint(100, 200, (64,))):  # out of range: any read would fail
        L.seed_everything(0, verbose=False)
        module = make_module()
        datamodule = make_datamodule(target_train=TensorDataset(xt, target_labels))
        make_trainer(tmp_path, limit_val_batches=0).fit(module, datamodule)
        weights.append(trained_parameters(module))
    torch.testing.assert_close(weights[0], weights[1], rtol=0, atol=0)


@pytest.mark.parametrize("lambda_max", [0.0, 1.0])
def test_lambda_max_zero_trains_source_only(tmp_path, lambda_max):
    xt, _ = blobs(64, shift=0.5, seed=2)
    weights = []
    for target_inputs in (xt, xt * 3.0 + 5.0):
        L.seed_everything(0, verbose=False)
        module = make_module(lambda_max=lambda_max, lambda_schedule="constant")
        make_trainer(tmp_path, limit_val_batches=0).fit(
            module, make_datamodule(target_train=TensorDataset(target_inputs))
        )
        weights.append(trained_parameters(nn.ModuleList([module.feature_extractor, module.classifier])))
    if lambda_max == 0.0:
        torch.testing.assert_close(weights[0], weights[1], rtol=0, atol=0)
    else:  # the control: with adversarial training the target data does move the model
        assert not torch.allclose(weights[0], weights[1])


def test_logs_exactly_the_documented_metric_names(tmp_path):
    module = make_module()
    trainer = make_trainer(tmp_path, max_epochs=1, log_every_n_steps=1)
    datamodule = make_datamodule()
    trainer.fit(module, datamodule)
    assert set(trainer.callback_metrics) == TRAIN_NAMES | VAL_NAMES | SELECTION_NAMES
    trainer.test(module, datamodule)
    assert set(trainer.callback_metrics) == {"test/target_acc"}


def test_validation_metrics_match_a_direct_evaluation(tmp_path):
    module = make_module()
    datamodule = make_datamodule()
    trainer = make_trainer(tmp_path, max_epochs=3)
    trainer.fit(module, datamodule)
    module.eval()

    def accuracy(dataset):
        x, y = dataset.tensors
        return (module(x).argmax(1) == y).float().mean().item()

    with torch.no_grad():
        x_s, x_t = datamodule.source_val.tensors[0], datamodule.target_val.tensors[0]
        domain_pred = module.discriminator(module.feature_extractor(torch.cat([x_s, x_t]))) > 0
        domain_acc = (domain_pred == torch.cat([torch.zeros(len(x_s)), torch.ones(len(x_t))]).bool()).float().mean()
    metrics = trainer.callback_metrics
    assert metrics["val/source_acc"].item() == pytest.approx(accuracy(datamodule.source_val))
    assert metrics["val/target_acc"].item() == pytest.approx(accuracy(datamodule.target_val))
    assert metrics["val/domain_acc"].item() == pytest.approx(domain_acc.item())
    trainer.test(module, datamodule)
    assert trainer.callback_metrics["test/target_acc"].item() == pytest.approx(accuracy(datamodule.target_test))


def test_evaluation_loaders_given_as_a_list_are_read_as_source_then_target(tmp_path):
    datamodule = make_datamodule()
    loaders = [DataLoader(datamodule.source_val, batch_size=8), DataLoader(datamodule.target_val, batch_size=8)]
    trainer = make_trainer(tmp_path)
    trainer.validate(make_module(), dataloaders=loaders)
    assert set(trainer.callback_metrics) >= VAL_NAMES


def test_evaluation_loader_with_an_unknown_domain_key_is_rejected(tmp_path):
    datamodule = make_datamodule()
    with pytest.raises(DANNError, match=r"keys among 'source', 'target'.*'holdout'"):
        make_trainer(tmp_path).validate(make_module(), dataloaders={"holdout": DataLoader(datamodule.target_val)})


def test_checkpoint_round_trip_gives_identical_predictions(tmp_path):
    module = make_module(lambda_max=0.5, gamma=5.0)
    trainer = make_trainer(tmp_path, limit_val_batches=0)
    trainer.fit(module, make_datamodule())
    path = tmp_path / "model.ckpt"
    trainer.save_checkpoint(path)

    checkpoint = torch.load(path, weights_only=True)
    assert checkpoint["hyper_parameters"]["lambda_max"] == 0.5
    restored = DANNLitModule.load_from_checkpoint(path, **tiny_networks())
    assert restored.hparams.gamma == 5.0
    x = blobs(32, seed=9)[0]
    module.eval()
    with torch.no_grad():
        torch.testing.assert_close(restored(x), module(x), rtol=0, atol=0)


def test_predict_returns_class_logits_of_target_test(tmp_path):
    module = make_module()
    datamodule = make_datamodule()
    predictions = make_trainer(tmp_path).predict(module, datamodule)
    logits = torch.cat(predictions)
    assert logits.shape == (len(datamodule.target_test), 2)


class OwnDataModule(L.LightningDataModule):
    """A user's own data module: DANN batches, none of the DomainData contract."""

    def train_dataloader(self):
        return raw_loaders(*blobs(64, seed=1), blobs(64, shift=0.5, seed=2)[0])

    def val_dataloader(self):
        return {"target": DataLoader(TensorDataset(*blobs(32, shift=0.5, seed=4)), batch_size=16)}


def test_a_users_own_data_module_trains_with_the_widths_given(tmp_path):
    module = make_module(lambda_max=0.3)
    before = trained_parameters(module).clone()
    trainer = make_trainer(tmp_path, max_epochs=3)
    trainer.fit(module, OwnDataModule())
    assert not torch.equal(trained_parameters(module), before)
    assert trainer.callback_metrics["val/target_acc"] > 0.6


def test_a_users_own_data_module_cannot_tell_the_classes_and_says_what_to_pass(tmp_path):
    module = DANNLitModule(**tiny_networks())  # num_classes left to the data, which does not say it
    with pytest.raises(DANNError, match=r"num_classes is not set .*does not implement DomainData.*pass num_classes"):
        make_trainer(tmp_path).fit(module, OwnDataModule())


# ------------------------------------------------------------------ bad input


def fit(tmp_path, module=None, **datamodule_kwargs):
    make_trainer(tmp_path, limit_val_batches=0).fit(module or make_module(), make_datamodule(**datamodule_kwargs))


def raw_loaders(x_s, y_s, x_t):
    source = DataLoader(TensorDataset(x_s, y_s), batch_size=8)
    target = DataLoader(TensorDataset(x_t), batch_size=8)
    return CombinedLoader({"source": source, "target": target}, mode="max_size_cycle")


def test_source_and_target_feature_shapes_must_match(tmp_path):
    with pytest.raises(
        DANNError, match=r"source_train samples have shape \(2,\), target_train samples have shape \(3,\)"
    ):
        fit(tmp_path, target_train=TensorDataset(torch.randn(64, 3)))


def test_feature_shape_mismatch_is_caught_without_the_data_module(tmp_path):
    x_s, y_s = blobs(16)
    with pytest.raises(DANNError, match=r"source batch has shape \(8, 2\), target batch has shape \(8, 3\)"):
        make_trainer(tmp_path).fit(make_module(), train_dataloaders=raw_loaders(x_s, y_s, torch.randn(16, 3)))


def test_source_label_outside_the_class_range_is_named(tmp_path):
    x_s, y_s = blobs(64)
    y_s[5] = 7
    with pytest.raises(DANNError, match=r"source_train label 7 at index 5 lies outside \[0, num_classes=2\)"):
        fit(tmp_path, source_train=TensorDataset(x_s, y_s))


def test_source_label_range_is_checked_without_the_data_module(tmp_path):
    x_s, y_s = blobs(16)
    y_s[3] = -1
    with pytest.raises(DANNError, match=r"source label -1 lies outside \[0, num_classes=2\)"):
        make_trainer(tmp_path).fit(make_module(), train_dataloaders=raw_loaders(x_s, y_s, blobs(16)[0]))


def test_float_source_labels_are_rejected(tmp_path):
    x_s, y_s = blobs(64)
    with pytest.raises(DANNError, match=r"source_train labels must be integer class indices, got dtype torch.float32"):
        fit(tmp_path, source_train=TensorDataset(x_s, y_s.float()))


@pytest.mark.parametrize("name", ["source_train", "target_train"])
def test_empty_datasets_are_named(tmp_path, name):
    empty = TensorDataset(torch.empty(0, 2), torch.empty(0, dtype=torch.long))
    with pytest.raises(DANNError, match=rf"{name} is empty"):
        fit(tmp_path, **{name: empty})


def test_batch_larger_than_a_dataset_is_rejected_instead_of_running_no_step(tmp_path):
    with pytest.raises(DANNError, match=r"target_train has 10 samples, fewer than batch_size=16"):
        fit(tmp_path, target_train=TensorDataset(torch.randn(10, 2)))


def test_discriminator_with_more_than_one_logit_is_rejected(tmp_path):
    networks = tiny_networks()
    networks["discriminator"] = nn.Linear(16, 2)
    module = DANNLitModule(**networks, num_classes=2)
    with pytest.raises(DANNError, match=r"one logit per sample, shape \(32,\) or \(32, 1\), got shape \(32, 2\)"):
        fit(tmp_path, module)


def test_classifier_width_must_equal_num_classes(tmp_path):
    module = DANNLitModule(**tiny_networks(num_classes=3), num_classes=2)
    with pytest.raises(DANNError, match=r"shape \(batch, num_classes\) = \(\d+, 2\), got shape \(\d+, 3\)"):
        fit(tmp_path, module)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"lambda_schedule": "linear"}, r"unknown lambda_schedule 'linear'; valid: 'ganin', 'constant'"),
        ({"lr_schedule": "step"}, r"unknown lr_schedule 'step'; valid: 'ganin', 'constant', 'cosine'"),
        ({"num_classes": 1}, r"num_classes must be an integer >= 2, got 1"),
        ({"lambda_max": -1.0}, r"lambda_max must be a finite number >= 0, got -1.0"),
        ({"gamma": 0.0}, r"gamma must be a finite number > 0, got 0.0"),
        ({"lambda_max": float("nan")}, r"lambda_max must be a finite number >= 0, got nan"),
    ],
)
def test_bad_arguments_are_rejected_at_construction(kwargs, message):
    kwargs = {"num_classes": 2, **kwargs}
    with pytest.raises(DANNError, match=message):
        DANNLitModule(**tiny_networks(), **kwargs)


def test_networks_must_be_modules():
    networks = tiny_networks()
    networks["classifier"] = "linear"
    with pytest.raises(DANNError, match=r"classifier must be a torch\.nn\.Module, got str"):
        DANNLitModule(**networks, num_classes=2)
