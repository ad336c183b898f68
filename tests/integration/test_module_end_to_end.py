"""The slow half of tests/unit/test_module.py: fits, subprocesses and whole runs."""

from tests.conftest import make_datamodule, make_module, make_trainer


def test_learns_a_shifted_task_on_tiny_data(tmp_path):
    module = make_module()
    datamodule = make_datamodule(n=128)
    trainer = make_trainer(tmp_path, max_epochs=15)
    trainer.fit(module, datamodule)
    assert trainer.callback_metrics["val/source_acc"] > 0.95
    assert trainer.callback_metrics["val/target_acc"] > 0.9
