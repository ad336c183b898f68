"""Target-side objectives: MCC and entropy against their papers' formulas, label-shift weights on known ratios."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from dann_lightning.errors import ConfigurationError
from dann_lightning.objectives import LabelShiftEstimator, minimum_class_confusion, target_entropy


def mcc_by_the_paper(logits: torch.Tensor, temperature: float) -> float:
    """Jin et al. 2020, equations 1-6, entry by entry in float64."""
    y = torch.softmax(logits.double() / temperature, dim=1).numpy()
    batch, classes = y.shape
    entropy = -(y * np.log(y)).sum(axis=1)
    weights = 1 + np.exp(-entropy)
    weights = batch * weights / weights.sum()
    correlation = np.array([[sum(weights[i] * y[i, j] * y[i, k] for i in range(batch)) for k in range(classes)]
                            for j in range(classes)])  # fmt: skip
    normalised = correlation / correlation.sum(axis=1, keepdims=True)
    return (normalised.sum() - np.trace(normalised)) / classes


@pytest.mark.parametrize(("batch", "classes", "temperature"), [(16, 3, 2.5), (7, 5, 1.0), (32, 2, 4.0)])
def test_mcc_is_the_papers_formula(batch, classes, temperature):
    logits = torch.randn(batch, classes, generator=torch.Generator().manual_seed(batch)) * 3
    value = minimum_class_confusion(logits, temperature)
    assert value.dtype == torch.float32 and value.ndim == 0
    assert value.item() == pytest.approx(mcc_by_the_paper(logits, temperature), abs=1e-5)


def test_mcc_is_lower_for_confident_distinct_predictions_and_its_gradient_lowers_it():
    confident = F.one_hot(torch.arange(6) % 3, 3).float() * 50
    confused = torch.tensor([[5.0, 5.0, -5.0]]).repeat(6, 1)  # every row torn between classes 0 and 1
    assert minimum_class_confusion(confident).item() < 1e-6
    assert minimum_class_confusion(confused).item() > 0.3
    logits = torch.randn(10, 3, generator=torch.Generator().manual_seed(0)).requires_grad_()
    before = minimum_class_confusion(logits)
    before.backward()
    with torch.no_grad():
        after = minimum_class_confusion(logits - 0.5 * logits.grad)
    assert after < before


def test_mcc_stays_finite_when_every_row_rules_a_class_out_beyond_float32():
    # Every row sure of class 0: classes 1 and 2 get probabilities exp(-400), zero in float32. Their
    # rows of C tend to [1, 0, 0] (confused with class 0 only), so the loss tends to 2 / 3.
    logits = torch.tensor([[1000.0, 0.0, 0.0], [990.0, 0.0, 5.0]], requires_grad=True)
    value = minimum_class_confusion(logits)
    value.backward()
    assert value.item() == pytest.approx(2 / 3, abs=1e-4) and torch.isfinite(logits.grad).all()
    assert value.item() == pytest.approx(mcc_by_the_paper(torch.tensor([[100.0, 0, 0], [99.0, 0, 0.5]]), 2.5), abs=1e-4)


def test_the_entropy_is_the_mean_of_the_rows_entropies():
    logits = torch.randn(9, 4, generator=torch.Generator().manual_seed(1)) * 2
    expected = torch.distributions.Categorical(logits=logits).entropy().mean()
    torch.testing.assert_close(target_entropy(logits), expected)
    assert target_entropy(logits.half()).dtype == torch.float32  # computed in float32 under mixed precision


def sure(labels: torch.Tensor, classes: int) -> torch.Tensor:
    return F.one_hot(labels, classes).float() * 30


def rows_of(proportions, rows: int) -> torch.Tensor:
    counts = [round(p * rows) for p in proportions]
    return torch.repeat_interleave(torch.arange(len(counts)), torch.tensor(counts))


def test_a_perfect_classifier_recovers_the_class_ratio_and_weights_each_source_row_by_its_class():
    source_labels, target_labels = rows_of([0.5, 0.5], 400), rows_of([0.8, 0.2], 400)
    target_labels = target_labels[torch.randperm(400, generator=torch.Generator().manual_seed(0))]
    estimator = LabelShiftEstimator(2)
    for part in range(4):  # an epoch of four batches
        batch = slice(100 * part, 100 * (part + 1))
        source, target = source_labels[batch], target_labels[batch]
        estimator.update(sure(source, 2), source, sure(target, 2))
    weights = estimator.estimate(momentum=0.0)
    torch.testing.assert_close(weights, torch.tensor([1.6, 0.4]), atol=1e-3, rtol=0)
    torch.testing.assert_close(
        estimator.weights_for(torch.tensor([1, 0, 0])), torch.tensor([0.4, 1.6, 1.6]), atol=1e-3, rtol=0
    )


def test_the_confusion_matrix_corrects_what_a_noisy_classifier_gets_wrong():
    # One feature, classes N(-1, 1) and N(+1, 1); the classifier is the exact source posterior (about
    # 16% errors per class). Its mean target prediction alone misreads 0.8 / 0.2; the confusion matrix undoes it.
    generator = torch.Generator().manual_seed(0)

    def draw(proportions, rows):
        labels = rows_of(proportions, rows)
        x = (2.0 * labels - 1) + torch.randn(rows, generator=generator)
        return torch.stack([-x, x], dim=1), labels  # logit difference 2x: the posterior for equal priors

    (source_logits, source_labels), (target_logits, _) = draw([0.5, 0.5], 20000), draw([0.8, 0.2], 20000)
    naive = torch.softmax(target_logits, dim=1).mean(dim=0) / 0.5
    estimator = LabelShiftEstimator(2)
    estimator.update(source_logits, source_labels, target_logits)
    weights = estimator.estimate(momentum=0.0)
    assert abs(naive[0].item() - 1.6) > 0.2  # the check below can fail: reading the predictions alone does
    torch.testing.assert_close(weights, torch.tensor([1.6, 0.4]), atol=0.05, rtol=0)


def test_three_classes_and_the_normalisation_over_the_source_frequencies():
    source_labels, target_labels = rows_of([0.5, 0.3, 0.2], 1000), rows_of([0.2, 0.3, 0.5], 1000)
    estimator = LabelShiftEstimator(3)
    estimator.update(sure(source_labels, 3), source_labels, sure(target_labels, 3))
    weights = estimator.estimate(momentum=0.0)
    torch.testing.assert_close(weights, torch.tensor([0.4, 1.0, 2.5]), atol=1e-3, rtol=0)
    assert (torch.tensor([0.5, 0.3, 0.2]) @ weights).item() == pytest.approx(1.0, abs=1e-3)


def test_weights_start_at_one_move_by_a_moving_average_and_stay_within_bounds():
    estimator = LabelShiftEstimator(2)  # momentum 0.5, bounds (0.1, 10)
    torch.testing.assert_close(estimator.weights, torch.ones(2))
    source = rows_of([0.5, 0.5], 100)
    target = torch.zeros(100, dtype=torch.long)  # the target holds class 0 only: raw ratio 2 / 0
    estimator.update(sure(source, 2), source, sure(target, 2))
    torch.testing.assert_close(estimator.estimate(), torch.tensor([1.5, 0.55]), atol=1e-3, rtol=0)  # halfway from 1
    estimator.update(sure(source, 2), source, sure(target, 2))
    torch.testing.assert_close(estimator.estimate(momentum=0.0), torch.tensor([2.0, 0.1]), atol=1e-3, rtol=0)


def test_an_estimate_resets_the_sums_and_without_rows_keeps_the_weights():
    estimator = LabelShiftEstimator(2)
    source = rows_of([0.5, 0.5], 10)
    estimator.update(sure(source, 2), source, sure(torch.zeros(10, dtype=torch.long), 2))
    estimator.estimate(momentum=0.0)
    assert all(float(total.abs().sum()) == 0 for total in estimator.sums())
    before = estimator.weights.clone()
    torch.testing.assert_close(estimator.estimate(momentum=0.0), before)  # nothing seen: unchanged
    estimator.update(None, None, sure(torch.ones(10, dtype=torch.long), 2))  # target rows only
    torch.testing.assert_close(estimator.estimate(momentum=0.0), before)


def test_summing_the_sums_of_two_processes_gives_the_estimate_of_all_rows():
    generator = torch.Generator().manual_seed(3)
    source_logits, target_logits = torch.randn(64, 3, generator=generator), torch.randn(64, 3, generator=generator)
    source_labels = torch.randint(0, 3, (64,), generator=generator)
    whole, first, second = LabelShiftEstimator(3), LabelShiftEstimator(3), LabelShiftEstimator(3)
    whole.update(source_logits, source_labels, target_logits)
    first.update(source_logits[:40], source_labels[:40], target_logits[:10])
    second.update(source_logits[40:], source_labels[40:], target_logits[10:])
    for mine, theirs in zip(first.sums(), second.sums(), strict=True):
        mine += theirs  # what all_reduce(SUM) does in place
    torch.testing.assert_close(first.estimate(), whole.estimate())


def test_only_the_weights_are_saved_and_they_load_back():
    estimator = LabelShiftEstimator(2)
    estimator.weights.fill_(2.0)
    assert list(estimator.state_dict()) == ["weights"]
    restored = LabelShiftEstimator(2)
    restored.load_state_dict(estimator.state_dict())
    torch.testing.assert_close(restored.weights, torch.full((2,), 2.0))


@pytest.mark.parametrize(
    ("build", "words"),
    [
        (lambda: minimum_class_confusion(torch.zeros(4, 3), temperature=0.0), ["temperature", "> 0", "0.0"]),
        (lambda: minimum_class_confusion(torch.zeros(4)), ["(rows, classes >= 2)", "(4,)"]),
        (lambda: target_entropy(np.zeros((4, 2))), ["target_entropy", "ndarray"]),
        (lambda: LabelShiftEstimator(1), ["num_classes", "got 1"]),
        (lambda: LabelShiftEstimator(2, momentum=1.0), ["momentum", "< 1"]),
        (lambda: LabelShiftEstimator(2, bounds=(2.0, 10.0)), ["bounds", "low <= 1", "(2.0, 10.0)"]),
        (lambda: LabelShiftEstimator(2).update(torch.zeros(3, 3), torch.zeros(3), None), ["2 class columns", "got 3"]),
        (
            lambda: LabelShiftEstimator(2).update(torch.zeros(3, 2), torch.zeros(2), None),
            ["source_labels", "(3)", "(2,)"],
        ),
    ],
)
def test_bad_arguments_say_what_was_expected(build, words):
    with pytest.raises(ConfigurationError) as error:
        build()
    assert all(word in str(error.value) for word in words), str(error.value)
