"""lambda_max="auto" beyond picking by one score: every criterion, the margin over source-only, the
IWA combination, candidate settings with target objectives."""

import math
import typing

import pytest
import torch

from dann_lightning import DANNLitModule
from dann_lightning.candidate_settings import CandidateSetting
from dann_lightning.choice import choose, combine, iwa_weights
from dann_lightning.criteria import CandidateOutputs, ensv_rows, mixval_rows, reverse_rows
from dann_lightning.errors import ConfigurationError
from dann_lightning.export import deployed_classifier
from dann_lightning.selection import SCORE_SPECS, LambdaCriterion
from dann_lightning.validation_rows import ValidationRows
from tests.conftest import blobs, make_datamodule, make_module, make_trainer, tiny_networks

CANDIDATES = (0.0, 0.5, 2.0)


@pytest.mark.parametrize("criterion", typing.get_args(LambdaCriterion))
def test_every_criterion_scores_every_candidate_and_keeps_one(tmp_path, criterion):
    model = make_module(lambda_max="auto", lambda_candidates=CANDIDATES, lambda_criterion=criterion)
    trainer = make_trainer(tmp_path, max_epochs=1)
    trainer.fit(model, make_datamodule())
    search = model.lambda_search
    assert search.chosen_lambda in CANDIDATES
    assert all(math.isfinite(score) for score in search.last_scores.values())
    for name, score in zip(search.names, search.last_scores.values(), strict=True):
        assert trainer.callback_metrics[f"val/auto/{criterion}_{name}"].item() == pytest.approx(score, rel=1e-5)


def test_the_registry_names_a_direction_and_rows_for_every_criterion():
    assert set(typing.get_args(LambdaCriterion)) == set(SCORE_SPECS)
    assert [name for name, spec in SCORE_SPECS.items() if spec.can_combine] == ["iwa"]


def test_the_margin_keeps_source_only_unless_the_gain_exceeds_the_rows_noise():
    rows = torch.tensor([[0.0] * 8, [1.0, -1.0] * 4, [0.3] * 8])  # 1: no gain on average; 2: a steady gain
    assert choose(rows, True, reference=0, margin=1.0).index == 2
    noisy = torch.tensor([[0.0] * 8, [2.0, -1.5] * 4])  # mean gain 0.25, standard error ~0.66
    choice = choose(noisy, True, reference=0, margin=1.0)
    assert (choice.index, choice.best) == (0, 1)
    assert choice.gain == pytest.approx(0.25) and choice.noise == pytest.approx(1.8708 / math.sqrt(8), rel=1e-3)
    assert choose(noisy, True, reference=0, margin=0.0).index == 1
    assert choose(-noisy, False, reference=0, margin=0.0).index == 1  # lower is better: the same choice


def test_validation_rows_stay_bounded_and_evenly_spread():
    rows = ValidationRows(max_rows=100)
    for start in range(0, 1000, 30):
        x = torch.arange(start, min(start + 30, 1000), dtype=torch.float32)[:, None]
        rows.update("target", inputs=x, outputs=x[:, None], features=x[:, None])
    kept = rows.compute()["target_inputs"].flatten()
    assert 50 <= len(kept) <= 100
    gaps = kept.diff()
    assert torch.all(gaps == gaps[0]) and kept[0] == 0 and kept[-1] > 900


def _outputs(target_logits, source_logits=None, labels=None, inputs=None, source_inputs=None, predict=None):
    target = torch.as_tensor(target_logits, dtype=torch.float64)
    source = None if source_logits is None else torch.as_tensor(source_logits, dtype=torch.float64)
    features = torch.zeros(*target.shape[:2], 1)
    return CandidateOutputs(
        target_inputs=torch.zeros(target.shape[1], 1) if inputs is None else inputs,
        target_outputs=target,
        target_features=features,
        source_inputs=source_inputs,
        source_labels=labels,
        source_outputs=source,
        source_features=None if source is None else torch.zeros(*source.shape[:2], 1),
        classification=True,
        sample_losses=lambda outputs, y: torch.nn.functional.cross_entropy(outputs, y, reduction="none"),
        predict=predict,
    )


def test_ensv_scores_agreement_with_the_candidates_mean_prediction():
    confident = [[4.0, 0.0]] * 3 + [[0.0, 4.0]] * 3
    flipped = [[0.0, 4.0]] * 3 + [[4.0, 0.0]] * 3
    rows = ensv_rows(_outputs([confident, confident, flipped]))
    assert rows.mean(dim=1).tolist() == [1.0, 1.0, 0.0]


def test_mixval_rewards_predictions_that_follow_the_dominant_input():
    x = torch.cat([torch.full((20, 1), -2.0), torch.full((20, 1), 2.0)])
    by_sign = lambda inputs: torch.cat([-inputs, inputs], dim=1) * 5  # noqa: E731  class 1 for positive inputs
    by_square = lambda inputs: torch.cat([inputs**2 - 1.5, 1.5 - inputs**2], dim=1)  # noqa: E731  mixes flip it
    predict = lambda index, inputs: (by_sign, by_square)[index](inputs)  # noqa: E731
    rows = mixval_rows(_outputs(torch.stack([by_sign(x), by_square(x)]), inputs=x, predict=predict))
    assert rows[0].mean().item() == pytest.approx(1.0)
    assert rows[1].mean().item() < 0.75


def test_reverse_validation_carries_target_labels_back_to_the_source():
    labels = torch.arange(20) // 10
    source = labels[:, None] * 5.0 + torch.linspace(0, 1, 20)[:, None]
    target = source + 0.05
    right = torch.nn.functional.one_hot(labels, 2).float() * 3
    out = _outputs(torch.stack([right, right.flip(1)]), labels=labels, inputs=target, source_inputs=source)
    out.source_outputs = out.target_outputs  # unused by reverse validation
    assert reverse_rows(out).mean(dim=1).tolist() == [1.0, 0.0]


def test_iwa_combination_is_the_weighted_least_squares_fit():
    labels = torch.tensor([0, 1, 0, 1, 1, 0])
    half_right = torch.tensor([[1.0, 0.0]] * 6)  # always class 0
    right = torch.nn.functional.one_hot(labels, 2).double() * 6 - 3
    out = _outputs(torch.stack([half_right, right]), torch.stack([half_right, right]), labels)
    out.source_importance = lambda: torch.ones(6, dtype=torch.float64)
    weights = iwa_weights(out)
    assert weights[1] > 0.9 and abs(weights[0]) < 0.1
    combined = combine([half_right.float(), right.float()], weights, classification=True)
    assert torch.equal(combined.argmax(1), labels)


def test_auto_keeps_the_iwa_combination_everywhere_the_model_is_used(tmp_path):
    model = make_module(
        lambda_max="auto", lambda_candidates=CANDIDATES, lambda_criterion="iwa", lambda_keep="combination"
    )
    trainer = make_trainer(tmp_path, max_epochs=2)
    trainer.fit(model, make_datamodule())
    search = model.lambda_search
    weights = search.combination_weights
    assert torch.isfinite(weights).all() and weights.abs().sum() > 0
    x, _ = blobs(16, shift=0.5, seed=7)
    with torch.no_grad():
        each = [nets.classifier(nets.feature_extractor(x)) for nets in search.candidates]
        expected = combine(each, weights, classification=True)
        torch.testing.assert_close(model(x), expected)
        torch.testing.assert_close(deployed_classifier(model)(x), expected)
    for name, weight in zip(search.names, weights, strict=True):
        assert trainer.callback_metrics[f"val/auto/weight_{name}"].item() == pytest.approx(float(weight))
    test = trainer.test(model, make_datamodule(), verbose=False)[0]["test/target_acc"]
    x_test, y_test = blobs(32, shift=0.5, seed=5)
    assert test == pytest.approx((model(x_test).argmax(1) == y_test).float().mean().item())
    path = tmp_path / "combination.ckpt"
    trainer.save_checkpoint(path)
    restored = DANNLitModule.load_from_checkpoint(path, **tiny_networks())
    torch.testing.assert_close(restored(x), model(x))


def test_candidate_settings_train_their_own_objectives(tmp_path):
    settings = (0.0, {"lambda_max": 0.5, "mcc_weight": 1.0}, {"lambda_max": 0.5, "label_shift": True})
    model = make_module(lambda_max="auto", lambda_candidates=settings, lambda_criterion="iwcv")
    search = model.lambda_search
    assert search.names == ("lambda_0", "lambda_0.5_mcc_1", "lambda_0.5_label_shift")
    assert search.settings[1] == CandidateSetting(0.5, mcc_weight=1.0)
    make_trainer(tmp_path, max_epochs=2).fit(model, make_datamodule())
    assert set(search.last_scores) == set(search.names)  # two share a lambda_max: keyed by name
    weights = search.terms[2].estimator.weights
    assert torch.isfinite(weights).all() and (weights > 0).all()


def test_a_plain_lambda_candidate_takes_the_models_objectives_and_zero_stays_source_only():
    model = make_module(lambda_max="auto", lambda_candidates=(0.0, 0.5), mcc_weight=0.3)
    assert model.lambda_search.settings == (CandidateSetting(0.0), CandidateSetting(0.5, mcc_weight=0.3))


def test_mcc_changes_the_fixed_lambda_training(tmp_path):
    results = []
    for weight in (0.0, 1.0):
        model = make_module(lambda_max=0.1, mcc_weight=weight)
        make_trainer(tmp_path, max_epochs=1).fit(model, make_datamodule())
        results.append(next(model.feature_extractor.parameters()).detach().clone())
    assert not torch.allclose(results[0], results[1])


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"label_shift": True}, "label_shift read class predictions and do not apply to task='regression'"),
        ({"mcc_weight": 1.0}, r"lambda_0.1_mcc_1 uses them"),
        (
            {"lambda_max": "auto", "lambda_candidates": (0.0, {"lambda_max": 0.1, "entropy_weight": 1.0})},
            "lambda_0.1_entropy_1 uses them",
        ),
        ({"lambda_max": "auto", "lambda_criterion": "mixval"}, r"lambda_criterion='mixval' needs classes"),
    ],
)
def test_class_objectives_are_refused_for_regression(options, message):
    with pytest.raises(ConfigurationError, match=message):
        DANNLitModule(**tiny_networks(num_classes=1), task="regression", **{"lambda_max": 0.1, **options})


def test_source_label_criteria_without_source_val_are_refused_before_training(tmp_path):
    model = make_module(lambda_max="auto", lambda_criterion="iwa", lambda_keep="combination")
    with pytest.raises(ConfigurationError, match="needs labelled source validation data"):
        make_trainer(tmp_path).fit(model, make_datamodule(source_val=None))
