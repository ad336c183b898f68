"""lambda_max="auto": candidates trained side by side, one kept by a label-free criterion."""

import copy

import numpy as np
import pytest
import torch
from torch.utils.data import TensorDataset

from dann_lightning import DANNLitModule
from dann_lightning.errors import ConfigurationError
from dann_lightning.lambda_search import NeighbourhoodConsistency, neighbour_agreement
from dann_lightning.sklearn import DANNClassifier
from tests.conftest import blobs, make_datamodule, make_module, make_trainer

CANDIDATES = (0.0, 0.5, 2.0)


def test_neighbour_agreement_is_chance_corrected():
    x = torch.cat([torch.linspace(0, 1, 20), torch.linspace(5, 6, 20)])[:, None]
    split = (torch.arange(40) >= 20).long()  # the boundary in the gap between the halves: all agree
    alternating = torch.arange(40) % 2  # every neighbour of another class: worse than chance
    assert neighbour_agreement(x, split, 2, k=1).item() == pytest.approx(1.0)
    assert neighbour_agreement(x, alternating, 2, k=2).item() < 0
    assert neighbour_agreement(x, torch.zeros(40, dtype=torch.long), 2).item() == 0.0  # one class


def test_consistency_prefers_the_labelling_whose_boundary_lies_in_the_gap():
    g = torch.Generator().manual_seed(0)
    x = torch.cat([torch.randn(100, 2, generator=g) - 3, torch.randn(100, 2, generator=g) + 3])
    through_the_gap = torch.nn.functional.one_hot((x.sum(1) > 0).long(), 2).float()
    through_a_cluster = torch.nn.functional.one_hot((x[:, 0] > -3).long(), 2).float()
    scores = []
    for logits in (through_the_gap, through_a_cluster):
        metric = NeighbourhoodConsistency(2)
        metric.update(x[:120], logits[:120])
        metric.update(x[120:], logits[120:])  # accumulated over batches
        scores.append(metric.compute().item())
    assert scores[0] > scores[1] + 0.1


def test_candidates_start_alike_and_train_apart(tmp_path):
    model = make_module(lambda_max="auto", lambda_candidates=CANDIDATES)
    first = [_first_weight(c).clone() for c in model.lambda_search.candidates]
    assert all(torch.equal(first[0], w) for w in first[1:])
    make_trainer(tmp_path, max_epochs=2).fit(model, make_datamodule())
    after = [_first_weight(c) for c in model.lambda_search.candidates]
    assert not torch.allclose(after[0], after[2])


def _first_weight(candidate):
    return next(candidate["feature_extractor"].parameters())


@pytest.mark.parametrize("optimization", ["automatic", "manual"])
def test_lambda_zero_candidate_is_source_only_training(tmp_path, optimization):
    """With its lambda of 0, the first candidate ends exactly where a source-only run ends."""
    auto = make_module(lambda_max="auto", lambda_candidates=CANDIDATES, optimization=optimization)
    make_trainer(tmp_path, max_epochs=2, limit_val_batches=1).fit(auto, make_datamodule())
    plain = make_module(lambda_max=0.0, optimization=optimization)
    make_trainer(tmp_path, max_epochs=2, limit_val_batches=0).fit(plain, make_datamodule())
    candidate = auto.lambda_search.candidates[0]
    for name in ("feature_extractor", "classifier"):
        for got, want in zip(candidate[name].parameters(), getattr(plain, name).parameters(), strict=True):
            torch.testing.assert_close(got, want)


def test_manual_mode_counts_each_candidates_discriminator_steps(tmp_path):
    model = make_module(lambda_max="auto", lambda_candidates=CANDIDATES, optimization="manual", discriminator_steps=2)
    trainer = make_trainer(tmp_path, max_epochs=1)
    trainer.fit(model, make_datamodule())  # 4 batches of 16
    assert trainer.global_step == 4 * (len(CANDIDATES) * 2 + 1)
    discriminators = [c["discriminator"] for c in model.lambda_search.candidates]
    assert not torch.allclose(_first(discriminators[0]), _first(discriminators[1]))


def _first(module):
    return next(module.parameters())


def test_the_kept_candidate_is_the_model_and_its_scores_are_logged(tmp_path):
    model = make_module(
        lambda_max="auto", lambda_candidates=CANDIDATES, lambda_criterion="consistency", lambda_margin=0.0
    )
    trainer = make_trainer(tmp_path, max_epochs=3)
    trainer.fit(model, make_datamodule())
    search = model.lambda_search
    assert search.chosen_lambda in CANDIDATES
    assert set(search.last_scores) == set(CANDIDATES)
    best = max(search.last_scores.values())
    assert search.last_scores[search.chosen_lambda] == best
    chosen = search.candidates[int(search.chosen)]
    for got, want in zip(model.feature_extractor.parameters(), chosen["feature_extractor"].parameters(), strict=True):
        assert torch.equal(got, want)
    metrics = trainer.callback_metrics
    assert metrics["val/auto/lambda_max"].item() == search.chosen_lambda
    for value, score in search.last_scores.items():
        assert metrics[f"val/auto/consistency_lambda_{value:g}"].item() == pytest.approx(score)
    x, y = blobs(32, shift=0.5, seed=4)  # the target validation rows: val/target_acc is the kept model's
    accuracy = (model(x).argmax(1) == y).float().mean().item()
    assert metrics["val/target_acc"].item() == pytest.approx(accuracy)


def test_source_only_kept_is_said_plainly(tmp_path):
    """On data without any shift, every candidate is alike: the tie goes to lambda 0, and the log says so."""
    x, _ = blobs(64, seed=1)
    data = make_datamodule(target_train=TensorDataset(x), target_val=TensorDataset(x))
    model = make_module(lambda_max="auto", lambda_candidates=(0.0, 1e-12), optimizer=torch.optim.SGD)
    said = "adaptation did not help on this data by iwa .*; the source-only model is kept"
    with pytest.warns(UserWarning, match=said):
        make_trainer(tmp_path, max_epochs=1).fit(model, data)
    assert model.lambda_search.chosen_lambda == 0.0


def test_a_checkpoint_restores_the_choice(tmp_path):
    model = make_module(lambda_max="auto", lambda_candidates=CANDIDATES)
    trainer = make_trainer(tmp_path, max_epochs=2)
    trainer.fit(model, make_datamodule())
    path = tmp_path / "auto.ckpt"
    trainer.save_checkpoint(path)
    restored = DANNLitModule.load_from_checkpoint(path, **_networks())
    assert restored.lambda_search.chosen_lambda == model.lambda_search.chosen_lambda
    x, _ = blobs(8)
    torch.testing.assert_close(restored(x), model(x))


def _networks():
    from tests.conftest import tiny_networks

    return tiny_networks()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"lambda_max": "aut"}, "lambda_max must be a number >= 0 or 'auto', got 'aut'"),
        ({"lambda_candidates": (0.1, 1.0)}, r"lambda_candidates must include 0 \(source-only training"),
        ({"lambda_candidates": (0.0,)}, "lambda_candidates must be a list of at least two candidates"),
        ({"lambda_candidates": (0.0, -1.0)}, r"lambda_candidates\[1\] must be a finite number >= 0, got -1.0"),
        ({"lambda_candidates": (0.0, 1.0, 1.0)}, "lambda_candidates must not repeat a setting"),
        ({"lambda_candidates": (0.0, {"lambda": 1.0})}, r"lambda_candidates\[1\] must map lambda_max and optionally"),
        ({"lambda_candidates": (0.0, {"lambda_max": 1.0, "mcc": 1})}, r"\(unknown: mcc\)"),
        (
            {"lambda_candidates": (0.0, {"lambda_max": 1.0, "mcc_weight": -1})},
            "mcc_weight must be a finite number >= 0",
        ),
        ({"lambda_candidates": (0.0, {"lambda_max": 1.0, "label_shift": "yes"})}, "label_shift must be true or false"),
        ({"lambda_keep": "average"}, "unknown lambda_keep 'average'; valid: 'best', 'combination'"),
        (
            {"lambda_keep": "combination", "lambda_criterion": "consistency"},
            r"lambda_keep='combination' weighs the candidates .* use lambda_criterion in \['iwa'\]",
        ),
        ({"lambda_margin": -1.0}, "lambda_margin must be a finite number >= 0"),
        ({"lambda_criterion": "accuracy"}, "unknown lambda_criterion 'accuracy'; valid: 'consistency', 'source_acc'"),
    ],
)
def test_bad_lambda_search_options_are_named(options, message):
    with pytest.raises(ConfigurationError, match=message):
        make_module(**{"lambda_max": "auto", **options})


def test_auto_without_validation_is_refused_before_training(tmp_path):
    model = make_module(lambda_max="auto")
    with pytest.raises(ConfigurationError, match=r"validation is off \(Trainer\(limit_val_batches=0\)\)"):
        make_trainer(tmp_path, limit_val_batches=0).fit(model, make_datamodule())
    assert model.global_step == 0


def test_a_criterion_needing_source_labels_without_source_val_is_refused_before_training(tmp_path):
    model = make_module(lambda_max="auto", lambda_criterion="source_acc")
    with pytest.raises(ConfigurationError, match="needs labelled source validation data, but the data module has no"):
        make_trainer(tmp_path).fit(model, make_datamodule(source_val=None))
    assert model.global_step == 0


def test_without_target_val_the_target_training_rows_are_scored(tmp_path):
    """A real user has no target labels: validation serves the target training rows' inputs."""
    model = make_module(lambda_max="auto", lambda_candidates=CANDIDATES)
    trainer = make_trainer(tmp_path, max_epochs=1)
    trainer.fit(model, make_datamodule(target_val=None))
    assert np.isfinite(list(model.lambda_search.last_scores.values())).all()
    assert "val/target_acc" not in trainer.callback_metrics  # the training rows carry no labels


@pytest.mark.parametrize("criterion", ["consistency", "source_acc"])  # source_acc: on held-out source rows
def test_sklearn_auto_reports_the_choice(criterion):
    x, y = blobs(120, seed=1)
    x_target, _ = blobs(120, shift=0.5, seed=2)
    clf = DANNClassifier(
        hidden_features=(8,), max_epochs=3, lr=1e-2, lambda_max="auto", lambda_criterion=criterion, random_state=0
    )
    clf.fit(x.numpy(), y.numpy(), X_target=x_target.numpy())
    assert clf.lambda_max_ in clf.lambda_candidates
    assert set(clf.lambda_scores_) == set(clf.lambda_candidates)
    assert all(np.isfinite(score) for score in clf.lambda_scores_.values())
    fixed = DANNClassifier(hidden_features=(8,), max_epochs=1, random_state=0)
    fixed.fit(x.numpy(), y.numpy(), X_target=x_target.numpy())
    assert fixed.lambda_max_ == 0.03 and fixed.lambda_scores_ == {}


def test_loading_weights_brings_their_choice_without_a_stale_copy(tmp_path):
    trained = make_module(lambda_max="auto", lambda_candidates=CANDIDATES)
    trained.lambda_search.keep(2)
    fresh = make_module(lambda_max="auto", lambda_candidates=CANDIDATES)
    assert fresh.lambda_search.chosen_lambda is None  # read before the load
    fresh.load_state_dict(trained.state_dict())
    assert fresh.lambda_search.chosen_lambda == CANDIDATES[2]
    assert copy.deepcopy(fresh).lambda_search.chosen_lambda == CANDIDATES[2]
