"""scripts/shift_suite.py and scripts/lambda_criteria.py: names checked before any run, the summary's
arithmetic, and one real (tiny) run of each kind of contender."""

import sys

import pytest

from tests.conftest import REPO

sys.path.insert(0, str(REPO / "scripts"))
import lambda_criteria
import shift_suite


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["--tasks", "moons_45"], ["unknown task moons_45", "moons_40", "digits_m"]),
        (["--networks", "resnet"], ["unknown network resnet", "relu64", "gelu256_layernorm"]),
        (["--contenders", "dann_fancy"], ["unknown contender dann_fancy", "dann_auto", "dann_lambda_1"]),
    ],
)
def test_unknown_names_stop_the_suite_before_any_run_and_list_the_valid_ones(monkeypatch, argv, words):
    monkeypatch.setattr(sys, "argv", ["shift_suite.py", *argv])
    with pytest.raises(SystemExit) as stopped:
        shift_suite.main()
    assert all(word in str(stopped.value) for word in words)


def test_the_criteria_study_refuses_candidates_without_source_only(monkeypatch):
    monkeypatch.setattr(sys, "argv", ["lambda_criteria.py", "--lambdas", "0.1", "1"])
    with pytest.raises(SystemExit, match="must include 0"):
        lambda_criteria.main()


def test_the_summary_counts_wins_ties_losses_and_the_kept_gains():
    results = {
        ("a", "n"): {"source_only": [0.70], "dann": [0.80], "dann_auto": [0.80]},  # dann wins by 10
        ("b", "n"): {"source_only": [0.95], "dann": [0.955], "dann_auto": [0.95]},  # a tie
        ("c", "n"): {"source_only": [0.80], "dann": [0.60], "dann_auto": [0.79]},  # dann loses by 20
    }
    for scores in results.values():
        scores["peer_recipe"] = [scores["source_only"][0] + 0.02]
    lines = shift_suite.summary(results, ["source_only", "dann", "dann_auto", "peer_recipe"])
    dann = next(line for line in lines if line.startswith("| dann |"))
    # The median gain of +10 and -20 over the two pairs below 0.9; ahead of the peers on "a" only.
    assert dann == "| dann | 1 / 1 / 1 | 67% | 1 | -5.0 | -20.0 | 33% |"
    auto = next(line for line in lines if line.startswith("| dann_auto |"))
    assert auto == "| dann_auto | 1 / 2 / 0 | 100% | 0 | +4.5 | -1.0 | 33% |"
    assert "dann_auto's summed positive gains: 95% of dann's" in "\n".join(lines)


@pytest.mark.parametrize("contender", ["source_only", "dann_auto", "target_oracle"])
def test_one_tiny_run_of_each_kind_of_contender_gives_an_accuracy(contender):
    task = shift_suite.TASKS["wine"].draw(0)
    accuracy = shift_suite.target_accuracy(task, shift_suite.NETWORKS["relu64"], contender, 0, epochs=2, batch=32)
    assert 0.0 <= accuracy <= 1.0


def test_the_criteria_study_scores_one_candidate_with_every_criterion():
    scores = lambda_criteria.train_and_score(("wine", "relu64", 0.1, 0, 2))
    assert set(scores) == {"target_acc", *lambda_criteria.CRITERIA}
    assert -1.0 <= scores["consistency"] <= 1.0 and 0.0 <= scores["source_acc"] <= 1.0
