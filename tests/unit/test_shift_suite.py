"""The shift suite and the auto study (dann_lightning.experiments): names checked before any
run, the tables' arithmetic, and real (tiny) runs of each kind of contender."""

import math

import pytest

from dann_lightning.experiments import auto_report, auto_study, suite, suite_report


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


def test_the_criteria_table_orders_keeps_and_counts_the_hopeless_draws():
    def draw(source_only, adapted, pick, rho):
        return {"lambda_0": source_only, "lambda_1": adapted, "auto:iwcv@0/all": pick, "rho:iwcv": rho}

    records = {("t", "n"): [draw(0.8, 0.7, 0.8, 1.0), draw(0.8, 0.6, 0.6, -1.0), draw(0.7, 0.9, 0.9, math.nan)]}
    lines = auto_report.criteria_table(records, ["iwcv"])
    assert "(2 draws)" in lines[0]  # where the adapted candidate is worse than source-only
    assert lines[-1] == "| iwcv | +0.00 | -20.0 | 1 / 2 |"


def test_the_ranked_summary_puts_the_safest_contender_first():
    results = {
        ("a", "n"): {"source_only": [0.70], "risky": [0.90], "safe": [0.75]},
        ("b", "n"): {"source_only": [0.80], "risky": [0.70], "safe": [0.80]},
    }
    lines = auto_report.ranked_summary(results, ["risky", "safe"])
    assert lines[2].startswith("| safe |") and lines[3].startswith("| risky |")


def test_a_run_is_reproducible_and_the_oracle_trains_on_other_rows():
    task = suite.TASKS["wine"].draw(0)
    network = suite.NETWORKS["relu64"]
    runs = [suite.target_accuracy(task, network, "source_only", 0, epochs=2, batch=32) for _ in range(2)]
    oracle = suite.target_accuracy(task, network, "target_oracle", 0, epochs=2, batch=32)
    assert runs[0] == runs[1]
    assert oracle != runs[0]


@pytest.mark.slow
def test_a_study_run_scores_every_candidate_and_every_pick_on_the_target_test_rows():
    record = auto_study.study_run(("wine", "relu64", 0, 2, 32))
    names = auto_study.CANDIDATE_SETS["all"]
    assert all(0.0 <= record[name] <= 1.0 for name in names)
    task = suite.TASKS["wine"].draw(0)
    alone = suite.target_accuracy(task, suite.NETWORKS["relu64"], "source_only", 0, epochs=2, batch=32)
    assert record["lambda_0"] == pytest.approx(alone, abs=1e-6)  # candidate 0 trains as source-only alone
    for key, accuracy in record.items():
        if key.startswith("auto:") and "combination" not in key:
            candidates = auto_study.CANDIDATE_SETS[key.split("/")[1]]
            assert accuracy in [record[name] for name in candidates]  # a pick is one of its set


@pytest.mark.slow
def test_the_regressor_study_scores_each_regression_criterion_and_the_combination(monkeypatch):
    from functools import partial

    from dann_lightning.experiments import estimators
    from dann_lightning.tasks import REGRESSION_CRITERIA

    monkeypatch.setattr(estimators, "DANNRegressor", partial(estimators.DANNRegressor, max_epochs=2))
    record = estimators.regressor_study("diabetes_bmi", 0)
    assert {"lambda_0", "lambda_1", "auto:iwa_combination"} <= set(record)
    for criterion in REGRESSION_CRITERIA:
        assert record[f"auto:{criterion}@1"] in [record[f"lambda_{v}"] for v in ("0", "0.1", "0.3", "1")]
