"""DANNLitModule(task="regression"): the shared step with a regression loss, its metrics and its errors."""

from __future__ import annotations

import lightning as L
import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from dann_lightning import DANNLitModule, DomainDataModule
from dann_lightning.errors import ConfigurationError, DataError
from dann_lightning.nets import MLP, DomainDiscriminator
from dann_lightning.tasks import RegressionTask, make_task


def regression_data(seed: int = 0, n: int = 256, width: int = 4, outputs: int | None = None, **options):
    rng = np.random.default_rng(seed)

    def draw(shift: float):
        x = rng.normal(size=(n, width)) + shift
        y = np.sin(x[:, 0]) + 0.5 * x[:, 1]
        return x, (y if outputs is None else np.stack([y] * outputs, axis=1))

    (xs, ys), (xt, yt), (xv, yv) = draw(0.0), draw(0.7), draw(0.0)
    return DomainDataModule.from_arrays(
        xs, ys, xt, yt, x_source_val=xv, y_source_val=yv, x_target_test=xt, y_target_test=yt,
        task="regression", batch_size=32, **options,
    )


def regression_module(seed: int = 0, width: int = 4, **kwargs) -> DANNLitModule:
    torch.manual_seed(seed)
    kwargs.setdefault("optimizer", lambda params: torch.optim.Adam(params, lr=1e-2))
    return DANNLitModule(MLP(width, [16], activation="tanh"), task="regression", **kwargs)


def quiet_trainer(**kwargs) -> L.Trainer:
    options = dict(
        accelerator="cpu", max_epochs=3, logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False,
    )
    return L.Trainer(**{**options, **kwargs})


def test_regression_logs_mae_rmse_r2_and_they_match_the_predictions():
    data, model = regression_data(), regression_module()
    trainer = quiet_trainer()
    trainer.fit(model, datamodule=data)
    logged = trainer.callback_metrics
    for name in ("val/source_mae", "val/target_mae", "val/target_rmse", "val/target_r2", "val/dev"):
        assert name in logged, name
    assert not any(name.endswith("_acc") and "domain" not in name for name in logged)
    assert not any(name in logged for name in ("val/entropy", "val/im", "val/snd"))
    tested = trainer.test(model, datamodule=data, verbose=False)[0]
    assert set(tested) == {"test/target_mae", "test/target_rmse", "test/target_r2"}
    x, y = data.target_test.tensors
    with torch.no_grad():
        predicted = model(x)[:, 0]
    assert tested["test/target_rmse"] == pytest.approx(float(((predicted - y) ** 2).mean().sqrt()), rel=1e-4)
    assert tested["test/target_mae"] == pytest.approx(float((predicted - y).abs().mean()), rel=1e-4)
    r2 = 1 - float(((predicted - y) ** 2).sum() / ((y - y.mean()) ** 2).sum())
    assert tested["test/target_r2"] == pytest.approx(r2, rel=1e-3, abs=1e-4)


def test_regression_learns_the_source_function():
    data, model = regression_data(), regression_module(lambda_max=0.0)
    trainer = quiet_trainer(max_epochs=15, limit_val_batches=0)
    trainer.fit(model, datamodule=data)
    x, y = data.source_val.tensors
    with torch.no_grad():
        rmse = float(((model(x)[:, 0] - y) ** 2).mean().sqrt())
    assert rmse < 0.5 * float(y.std())  # far better than predicting the mean


def test_huber_and_mse_train_differently():
    results = []
    for loss in ("mse", "huber"):
        model = regression_module(loss=loss)
        quiet_trainer(max_epochs=1, limit_val_batches=0).fit(model, datamodule=regression_data())
        results.append(next(model.classifier.parameters()).detach().clone())
    assert not torch.equal(*results)
    assert make_task("regression", loss="huber").loss(torch.tensor([[3.0]]), torch.tensor([0.0])).item() == 2.5


def test_several_outputs():
    data, model = regression_data(outputs=2), regression_module(num_outputs=2)
    trainer = quiet_trainer(max_epochs=1)
    trainer.fit(model, datamodule=data)
    assert "val/target_r2" in trainer.callback_metrics
    assert model(torch.zeros(3, 4)).shape == (3, 2)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"num_classes": 3}, "num_classes=3 does not apply to task='regression'.*num_outputs"),
        ({"selection_scores": ["entropy", "dev"]}, r"\['entropy'\] need class probabilities.*\['dev'\]"),
        ({"lambda_max": "auto", "lambda_criterion": "consistency"}, "lambda_criterion='consistency'.*'dev'"),
        ({"loss": "cross_entropy"}, "not a regression loss.*'mse', 'huber'"),
        ({"num_outputs": 0}, "num_outputs must be an integer >= 1, got 0"),
        ({"task": "ranking"}, "task.*'ranking'.*'classification', 'regression'"),
    ],
)
def test_options_that_do_not_apply_to_regression(options, message):
    options = {"task": "regression", **options}
    with pytest.raises(ConfigurationError, match=message):
        DANNLitModule(MLP(4, [8]), **options)


def test_classification_refuses_regression_options():
    with pytest.raises(ConfigurationError, match="loss='huber' is not a classification loss"):
        DANNLitModule(MLP(4, [8]), num_classes=2, loss="huber")
    with pytest.raises(ConfigurationError, match="num_outputs=1 is for task='regression'"):
        DANNLitModule(MLP(4, [8]), num_classes=2, num_outputs=1)


def test_a_classifier_of_another_width_is_named_before_the_first_step():
    torch.manual_seed(0)
    model = DANNLitModule(MLP(4, [16]), nn.Linear(16, 3), task="regression")
    steps = []
    model.on_train_batch_start = lambda *args: steps.append(1)
    with pytest.raises(ConfigurationError, match="output width is 3, num_outputs is 1"):
        quiet_trainer(max_epochs=1).fit(model, datamodule=regression_data())
    assert steps == []


def test_the_default_classifier_is_one_linear_layer_to_num_outputs():
    model = regression_module(num_outputs=3)
    assert isinstance(model.classifier, nn.LazyLinear) and model.classifier.out_features == 3


def test_class_labels_with_a_regression_model_are_named():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4))
    labelled = TensorDataset(torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(rng.integers(0, 2, 64)))
    classes = DomainDataModule(labelled, TensorDataset(torch.as_tensor(x, dtype=torch.float32)), batch_size=16)
    with pytest.raises(DataError, match=r"must be numbers.*task='regression'.*got dtype torch.int64"):
        quiet_trainer(max_epochs=1, limit_val_batches=0).fit(regression_module(), datamodule=classes)


def test_a_data_module_of_another_task_is_named():
    model = DANNLitModule(MLP(4, [8]), num_classes=2)
    with pytest.raises(ConfigurationError, match=r"task='classification' but the data module.*task='regression'"):
        quiet_trainer(max_epochs=1).fit(model, datamodule=regression_data())


def test_non_finite_targets_in_arrays_are_named():
    x = np.zeros((5, 2))
    y = np.array([0.0, 1.0, np.nan, 2.0, 3.0])
    with pytest.raises(DataError, match="y_source row 2 holds nan"):
        DomainDataModule.from_arrays(x, y, x, task="regression")


def test_lambda_search_by_dev_for_regression():
    model = regression_module(lambda_max="auto", lambda_candidates=(0.0, 0.3), lambda_criterion="dev")
    trainer = quiet_trainer(max_epochs=2)
    trainer.fit(model, datamodule=regression_data())
    assert model.lambda_search.chosen_lambda in (0.0, 0.3)
    assert "val/target_rmse" in trainer.callback_metrics


def test_regression_task_checks_label_shapes():
    task = RegressionTask(2)
    with pytest.raises(DataError, match=r"shape \(rows, 2\) for num_outputs=2, got \(5,\)"):
        task.check_labels(torch.zeros(5), "source")


def test_manual_optimization_shares_the_step():
    model = regression_module(optimization="manual", discriminator_steps=2)
    trainer = quiet_trainer(max_epochs=1)
    trainer.fit(model, datamodule=regression_data())
    assert np.isfinite(float(trainer.callback_metrics["val/target_rmse"]))


def test_discriminator_default_is_kept():
    model = regression_module(discriminator=DomainDiscriminator(16, [8]))
    assert isinstance(model.discriminator, DomainDiscriminator)
