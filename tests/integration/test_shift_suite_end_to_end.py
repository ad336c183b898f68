"""The slow half of tests/unit/test_shift_suite.py: fits, subprocesses and whole runs."""

import pytest

from dann_lightning.experiments import suite


def test_lambda_auto_in_the_suite_keeps_the_accuracy_of_one_candidate_trained_alone():
    # The candidates start from the same weights and see the same batches as a run with their lambda alone.
    task = suite.TASKS["covariate_rotation_2d"].draw(0)
    network = suite.NETWORKS["relu64"]
    alone = {
        contender: suite.target_accuracy(task, network, contender, 0, epochs=2, batch=128)
        for contender in ["source_only", "dann_lambda_0.1", "dann_lambda_0.3", "dann_lambda_1"]  # the candidates
    }
    assert len(set(alone.values())) == 4  # each lambda ends elsewhere: the match below names one
    kept = suite.target_accuracy(task, network, "dann_auto", 0, epochs=2, batch=128)
    assert any(kept == pytest.approx(accuracy, abs=1e-6) for accuracy in alone.values()), (kept, alone)
