"""Proxy A-distance, selection scores with known answers, callbacks, `dann-lightning analyze`."""

import math

import numpy as np
import pytest
import torch
from lightning.pytorch.loggers import TensorBoardLogger
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from dann_lightning.analysis import proxy_a_distance
from dann_lightning.analysis.embedding import embedding_figure
from dann_lightning.analysis.report import analyze_checkpoints, analyze_model
from dann_lightning.analysis.scores import (
    DeepEmbeddedValidation,
    InformationMaximization,
    PredictionEntropy,
    SoftNeighborhoodDensity,
    dev_risk,
    importance_weights,
)
from dann_lightning.callbacks import EmbeddingPlotCallback, ProxyADistanceCallback
from dann_lightning.errors import CheckpointError, DANNError
from tests.conftest import blobs, make_datamodule, make_module, make_trainer

rng = np.random.default_rng(0)

# ------------------------------------------------------------------ proxy A-distance


@pytest.mark.parametrize("classifier", ["svm", "logistic"])
def test_pad_of_two_draws_of_one_distribution_is_small(classifier):
    a, b = rng.normal(size=(400, 5)), rng.normal(size=(400, 5))
    assert proxy_a_distance(a, b, classifier=classifier) <= 0.2


@pytest.mark.parametrize("classifier", ["svm", "logistic"])
def test_pad_of_well_separated_domains_is_near_two(classifier):
    a, b = rng.normal(size=(400, 5)), rng.normal(size=(400, 5)) + 4.0
    assert proxy_a_distance(a, b, classifier=classifier) >= 1.8


@pytest.mark.parametrize("classifier", ["svm", "logistic"])
def test_pad_of_a_known_separation_is_near_its_true_value(classifier):
    # N(0, I) vs N(2 e_1, I): the best linear classifier errs with Phi(-1) = 0.159, so PAD = 2 (1 - 2 * 0.159)
    a, b = rng.normal(size=(1000, 16)), rng.normal(size=(1000, 16))
    b[:, 0] += 2.0
    assert proxy_a_distance(a, b, classifier=classifier) == pytest.approx(1.365, abs=0.1)


def test_pad_stays_within_zero_and_two():
    a = rng.normal(size=(40, 3))
    values = [proxy_a_distance(a, a + shift, seed=seed) for shift in (0.0, 0.3, 50.0) for seed in range(3)]
    assert all(0.0 <= v <= 2.0 for v in values)
    assert values[-1] == 2.0  # perfectly separated


def test_pad_accepts_tensors_and_subsamples():
    a, b = torch.randn(300, 3), torch.randn(300, 3) + 3.0
    assert proxy_a_distance(a, b, max_samples=50) == proxy_a_distance(a[:], b[:], max_samples=50)


@pytest.mark.parametrize(
    ("source", "target", "message"),
    [
        (np.full((10, 2), np.nan), np.zeros((10, 2)), r"source_features holds NaN or inf \(first in row 0\)"),
        (np.zeros((10, 2)), np.zeros((10, 3)), r"source_features has 2 features per sample but target_features has 3"),
        (np.zeros((1, 2)), np.zeros((10, 2)), r"source_features needs at least 2 samples, got 1"),
        (np.zeros(10), np.zeros((10, 2)), r"source_features must be a 2-D array"),
    ],
)
def test_pad_rejects_bad_features(source, target, message):
    with pytest.raises(DANNError, match=message):
        proxy_a_distance(source, target)


def test_pad_estimator_is_one_of_the_listed_choices():
    a = rng.normal(size=(10, 2))
    with pytest.raises(DANNError, match=r"unknown classifier 'mlp'; valid: 'svm', 'logistic'"):
        proxy_a_distance(a, a, classifier="mlp")
    with pytest.raises(DANNError, match=r"unknown classifier 'mlp'; valid: 'svm', 'logistic'"):
        analyze_model(make_module(), make_datamodule(), pad_classifier="mlp", embedding=None)


@pytest.mark.parametrize(("classifier", "name"), [(None, "pad"), ("svm", "pad"), ("logistic", "pad_logistic")])
def test_callback_and_analyze_give_the_same_pad_for_the_same_weights(tmp_path, classifier, name):
    # 100 validation samples per domain, 40 kept: both must keep the same 40 and fit the same estimator.
    model, datamodule = make_module(), make_datamodule(n=200)
    options = {} if classifier is None else {"classifier": classifier}
    trainer = make_trainer(tmp_path, callbacks=[ProxyADistanceCallback(max_samples=40, **options)])
    trainer.validate(model, datamodule, verbose=False)
    logged = trainer.callback_metrics[f"val/{name}"].item()
    assert [k for k in trainer.callback_metrics if k.startswith("val/pad")] == [f"val/{name}"]
    options = {} if classifier is None else {"pad_classifier": classifier}
    result = analyze_model(model, datamodule, max_samples=40, embedding=None, **options)
    assert [k for k in result if k.startswith("pad")] == [name]
    assert 0.0 < result[name] <= 2.0
    assert logged == pytest.approx(result[name], abs=1e-6)


# ------------------------------------------------------------------ selection scores


def test_entropy_is_maximal_for_uniform_and_zero_for_one_hot_predictions():
    metric = PredictionEntropy()
    metric.update(torch.zeros(8, 4))
    assert metric.compute().item() == pytest.approx(math.log(4), rel=1e-6)
    metric.reset()
    metric.update(torch.eye(4) * 100)
    assert metric.compute().item() == pytest.approx(0.0, abs=1e-6)


def test_information_maximization_on_hand_made_predictions():
    metric = InformationMaximization(num_classes=2)
    metric.update(torch.zeros(6, 2))  # uniform: diverse on average but never confident
    assert metric.compute().item() == pytest.approx(0.0, abs=1e-6)
    metric.reset()
    metric.update(torch.tensor([[50.0, 0.0], [0.0, 50.0]] * 3))  # confident and balanced
    assert metric.compute().item() == pytest.approx(math.log(2), rel=1e-6)
    metric.reset()
    metric.update(torch.tensor([[50.0, 0.0]] * 6))  # confident but all one class
    assert metric.compute().item() == pytest.approx(0.0, abs=1e-6)


def test_snd_on_hand_made_neighbourhoods():
    metric = SoftNeighborhoodDensity()
    metric.update(torch.zeros(5, 3))  # identical predictions: each point's 4 neighbours equally close
    assert metric.compute().item() == pytest.approx(math.log(4), rel=1e-5)
    metric.reset()
    two_clusters = torch.tensor([[50.0, 0.0]] * 4 + [[0.0, 50.0]] * 4)
    metric.update(two_clusters)  # each point sees its 3 cluster mates, the other cluster is far
    assert metric.compute().item() == pytest.approx(math.log(3), rel=1e-3)


def test_dev_weights_are_one_when_the_domain_classifier_cannot_tell_the_domains_apart():
    features = rng.normal(size=(200, 3))
    weights = importance_weights(features, features.copy())
    np.testing.assert_allclose(weights, 1.0, atol=0.05)
    losses = rng.uniform(0, 2, size=200)
    metric = DeepEmbeddedValidation()
    metric.update(torch.tensor(features), losses=torch.tensor(losses))
    metric.update(torch.tensor(features))
    assert metric.compute().item() == pytest.approx(losses.mean(), rel=0.02)


def test_dev_weights_follow_the_target_density():
    source = rng.normal(size=(400, 1))
    target = rng.normal(loc=1.0, size=(400, 1))
    weights = importance_weights(source, target)
    # The true ratio N(1,1)/N(0,1) is exp(x - 1/2): increasing in x.
    order = np.argsort(source[:, 0])
    assert weights[order[-20:]].mean() > 5 * weights[order[:20]].mean()


def test_dev_risk_formula_and_constant_weights():
    losses = np.array([0.0, 1.0, 2.0, 3.0])
    assert dev_risk(np.ones(4), losses) == pytest.approx(1.5)
    w = np.array([0.5, 1.0, 1.5, 2.0])
    eta = -np.cov(w * losses, w, ddof=1)[0, 1] / np.var(w, ddof=1)
    assert dev_risk(w, losses) == pytest.approx(np.mean(w * losses) + eta * np.mean(w) - eta)


@pytest.mark.parametrize("name", ["entropy", "im", "snd", "dev"])
def test_scores_reduce_like_one_pass_over_all_data(name):
    # What DDP does: each process accumulates its shard; the states are merged before compute.
    logits = torch.randn(40, 3)
    features = torch.randn(40, 4)

    def make():
        return {
            "entropy": PredictionEntropy,
            "im": lambda: InformationMaximization(3),
            "snd": SoftNeighborhoodDensity,
            "dev": DeepEmbeddedValidation,
        }[name]()

    def feed(metric, rows):
        if name == "dev":
            metric.update(features[rows], losses=logits[rows, 0].abs())
            metric.update(features[rows] + 0.5)
        else:
            metric.update(logits[rows])

    whole, first, second = make(), make(), make()
    feed(whole, slice(0, 40))
    feed(first, slice(0, 20))
    feed(second, slice(20, 40))
    first.merge_state(second)
    if name == "dev":  # merged list states keep shard order: compare on the same ordering
        assert first.compute().item() == pytest.approx(whole.compute().item(), rel=0.05)
    else:
        assert first.compute().item() == pytest.approx(whole.compute().item(), rel=1e-5)


# ------------------------------------------------------------------ in training


def test_validation_logs_the_selection_scores(tmp_path):
    model, data = make_module(), make_datamodule()
    trainer = make_trainer(tmp_path, max_epochs=1)
    trainer.fit(model, data)
    for name in ("val/snd", "val/dev"):
        assert torch.isfinite(trainer.callback_metrics[name]), name
    # Entropy and IM by hand, on the target validation rows with the final weights (validation ran last).
    with torch.no_grad():
        probs = torch.softmax(model.eval()(data.target_val.tensors[0]), dim=1)
    row_entropy = -(probs * probs.log()).sum(dim=1)
    mean = probs.mean(dim=0)
    im = -(mean * mean.log()).sum() - row_entropy.mean()
    assert trainer.callback_metrics["val/entropy"].item() == pytest.approx(row_entropy.mean().item(), rel=1e-5)
    assert trainer.callback_metrics["val/im"].item() == pytest.approx(im.item(), rel=1e-5)


def test_dev_is_skipped_without_labelled_source_validation_data(tmp_path):
    trainer = make_trainer(tmp_path, max_epochs=1)
    trainer.fit(make_module(), make_datamodule(source_val=None))
    assert "val/dev" not in trainer.callback_metrics
    assert "val/snd" in trainer.callback_metrics


def test_callbacks_write_an_embedding_image_and_a_pad_scalar(tmp_path):
    logger = TensorBoardLogger(tmp_path, name="", version="run")
    callbacks = [EmbeddingPlotCallback(every_n_epochs=2, method="pca"), ProxyADistanceCallback(every_n_epochs=1)]
    trainer = make_trainer(tmp_path, max_epochs=2, logger=logger, callbacks=callbacks)
    trainer.fit(make_module(), make_datamodule())
    events = EventAccumulator(str(tmp_path / "run"), size_guidance={"images": 0})
    events.Reload()
    assert "val/embedding" in events.Tags()["images"]
    assert len(events.Images("val/embedding")) == 1  # every second epoch of two
    pads = [e.value for e in events.Scalars("val/pad")]
    assert len(pads) == 2 and all(0.0 <= p <= 2.0 for p in pads)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: EmbeddingPlotCallback(method="umap"), r"unknown method 'umap'; valid: pca, tsne"),
        (lambda: ProxyADistanceCallback(classifier="mlp"), r"unknown classifier 'mlp'; valid: 'svm', 'logistic'"),
        (lambda: ProxyADistanceCallback(every_n_epochs=0), r"every_n_epochs must be >= 1"),
    ],
)
def test_callback_options_are_checked(make, message):
    with pytest.raises(DANNError, match=message):
        make()


def test_analyze_explains_a_checkpoint_without_configuration(tmp_path):
    trainer = make_trainer(tmp_path, max_steps=1, limit_val_batches=0)
    trainer.fit(make_module(), make_datamodule())
    trainer.save_checkpoint(tmp_path / "python.ckpt")
    with pytest.raises(DANNError, match=r"was not written by `dann-lightning fit`.*analyze_model"):
        analyze_checkpoints([tmp_path / "python.ckpt"], tmp_path / "out")
    with pytest.raises(CheckpointError, match=r"missing.ckpt does not exist"):
        analyze_checkpoints([tmp_path / "missing.ckpt"], tmp_path / "out")
    result = analyze_model(make_module(), make_datamodule(), embedding=None)
    assert 0.0 <= result["pad"] <= 2.0



def test_analyze_reports_a_target_without_labels_without_its_oracle_column():
    """The situation of docs/workflow.md: no target label anywhere, so no test split; the rest is reported."""
    from dann_lightning.data import TabularDataModule

    (xs, ys), (xt, _) = blobs(64, seed=1), blobs(64, shift=0.5, seed=2)
    data = TabularDataModule(source=(xs.numpy(), ys.numpy()), target=xt.numpy(), batch_size=16)
    with pytest.raises(DANNError, match="has no labels"):  # what analyze met before
        data.setup("test")
    result = analyze_model(make_module(), data, embedding=None)
    assert 0.0 <= result["pad"] <= 2.0 and "source_val_acc" in result
    assert not any(key.startswith("target_test") for key in result)

def test_embedding_marks_classes_but_not_the_numbers_of_a_regression():
    features = torch.randn(40, 5)
    classes = embedding_figure(features[:20], features[20:], torch.arange(20) % 3, torch.arange(20) % 3, method="pca")
    numbers = embedding_figure(features[:20], features[20:], torch.rand(20), torch.rand(20), method="pca")
    legend = [text.get_text() for text in classes.axes[0].get_legend().get_texts()]
    assert legend == [f"{domain} {label}" for domain in ("source", "target") for label in range(3)]
    assert [text.get_text() for text in numbers.axes[0].get_legend().get_texts()] == ["source", "target"]
