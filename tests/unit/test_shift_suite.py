"""The shift suite and the criteria study (dann_lightning.experiments): names checked before any
run, the tables' arithmetic, and real (tiny) runs of each kind of contender."""

import pytest

from dann_lightning.experiments import criteria, suite, suite_report


@pytest.mark.parametrize(
    ("kind", "names", "valid", "words"),
    [
        ("task", ["moons_45"], suite.ALL_TASKS, ["unknown task moons_45", "moons_40", "digits_m"]),
        ("network", ["resnet"], suite.NETWORKS, ["unknown network resnet", "relu64", "gelu256_layernorm"]),
        (
            "contender",
            ["dann_fancy"],
            suite.ALL_CONTENDERS,
            ["unknown contender dann_fancy", "dann_auto", "dann_lambda_1"],
        ),
    ],
)
def test_unknown_names_stop_the_suite_before_any_run_and_list_the_valid_ones(kind, names, valid, words):
    with pytest.raises(SystemExit) as stopped:
        suite.check_names(kind, names, valid)
    assert all(word in str(stopped.value) for word in words)


def test_the_criteria_study_refuses_candidates_without_source_only():
    with pytest.raises(SystemExit, match="must include 0"):
        criteria.check_candidates([0.1, 1.0])


def test_the_summary_counts_wins_ties_losses_and_the_kept_gains():
    results = {
        ("a", "n"): {"source_only": [0.70], "dann": [0.80], "dann_auto": [0.80]},  # dann wins by 10
        ("b", "n"): {"source_only": [0.95], "dann": [0.955], "dann_auto": [0.95]},  # a tie
        ("c", "n"): {"source_only": [0.80], "dann": [0.60], "dann_auto": [0.79]},  # dann loses by 20
    }
    for scores in results.values():
        scores["peer_recipe"] = [scores["source_only"][0] + 0.02]
    lines = suite_report.summary(results, ["source_only", "dann", "dann_auto", "peer_recipe"])
    dann = next(line for line in lines if line.startswith("| dann |"))
    # The median gain of +10 and -20 over the two pairs below 0.9; ahead of the peers on "a" only.
    assert dann == "| dann | 1 / 1 / 1 | 67% | 1 | -5.0 | -20.0 | 33% |"
    auto = next(line for line in lines if line.startswith("| dann_auto |"))
    assert auto == "| dann_auto | 1 / 2 / 0 | 100% | 0 | +4.5 | -1.0 | 33% |"
    assert "dann_auto's summed positive gains: 95% of dann's" in "\n".join(lines)


def test_the_pair_table_gives_medians_over_seeds_and_dann_seed_by_seed():
    results = {("moons_40", "relu64"): {"source_only": [0.7, 0.8, 0.9], "dann": [0.75, 0.805, 0.85]}}
    lines = suite_report.pair_table(results, ["source_only", "dann"])
    assert lines[-1] == "| moons_40 | relu64 | 0.800 | 0.805 | 1 / 1 / 1 |"


def test_the_criteria_report_picks_by_each_score_and_the_oracle_by_accuracy():
    def candidate(accuracy, consistency):
        return {"target_acc": accuracy, **dict.fromkeys(criteria.CRITERIA, 0.0), "consistency": consistency}

    # DANN (0.1) helps by 5 points, but consistency prefers lambda 1, which loses 10.
    draws = {("t", "n", 0): {0.0: candidate(0.80, 0.1), 0.1: candidate(0.85, 0.2), 1.0: candidate(0.70, 0.3)}}
    lines = criteria.report(draws)
    assert next(line for line in lines if line.startswith("| consistency |")) == (
        "| consistency | -0.50 | -10.0 | -10.0 | 1 of 1 | 0 of 0 |"
    )
    # Every other score ties: the smallest lambda, source-only, is kept.
    assert next(line for line in lines if line.startswith("| snd |")) == "| snd | n/a | +0.0 | +0.0 | 0 of 1 | 0 of 0 |"
    assert (
        next(line for line in lines if line.startswith("| oracle |"))
        == "| oracle | n/a | +5.0 | +5.0 | 0 of 1 | 0 of 0 |"
    )


def test_a_run_is_reproducible_and_the_oracle_trains_on_other_rows():
    task = suite.TASKS["wine"].draw(0)
    network = suite.NETWORKS["relu64"]
    runs = [suite.target_accuracy(task, network, "source_only", 0, epochs=2, batch=32) for _ in range(2)]
    oracle = suite.target_accuracy(task, network, "target_oracle", 0, epochs=2, batch=32)
    assert runs[0] == runs[1]
    assert oracle != runs[0]


def test_the_study_scores_one_candidate_by_every_criterion_and_its_accuracy_is_the_suites():
    scores = criteria.train_and_score(("wine", "relu64", 0.0, 0, 2))
    assert set(scores) == {"target_acc", *criteria.CRITERIA}
    task = suite.TASKS["wine"].draw(0)
    tested = suite.target_accuracy(task, suite.NETWORKS["relu64"], "source_only", 0, epochs=2, batch=64)
    assert scores["target_acc"] == pytest.approx(tested, abs=1e-6)
