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
        xs,
        ys,
        xt,
        yt,
        x_source_val=xv,
        y_source_val=yv,
        x_target_test=xt,
        y_target_test=yt,
        task="regression",
        batch_size=32,
        **options,
    )


def regression_module(seed: int = 0, width: int = 4, **kwargs) -> DANNLitModule:
    torch.manual_seed(seed)
    kwargs.setdefault("optimizer", lambda params: torch.optim.Adam(params, lr=1e-2))
    return DANNLitModule(MLP(width, [16], activation="tanh"), task="regression", **kwargs)


def quiet_trainer(**kwargs) -> L.Trainer:
    options = dict(
        accelerator="cpu",
        max_epochs=3,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
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
    model, data = regression_module(optimization="manual", discriminator_steps=2), regression_data()
    trainer = quiet_trainer(max_epochs=1)
    trainer.fit(model, datamodule=data)
    x, y = data.target_val.tensors  # validation ran last: the final weights
    with torch.no_grad():
        rmse = float(((model.eval()(x)[:, 0] - y) ** 2).mean().sqrt())
    assert float(trainer.callback_metrics["val/target_rmse"]) == pytest.approx(rmse, rel=1e-4)


def test_discriminator_default_is_kept():
    given = DomainDiscriminator(16, [8])
    model = regression_module(discriminator=given)
    assert model.discriminator is given  # the very module, not a default built in its place


# ------------------------------------------------------------------ tables and the embedded shifts


def write_table(path, header, rows):
    path.write_text("\n".join([",".join(header), *(",".join(map(str, row)) for row in rows)]) + "\n")


def regression_tables(tmp_path, n: int = 80, bad: tuple[int, str] | None = None):
    rng = np.random.default_rng(0)
    source = [[i, *np.round(rng.normal(size=2), 3), 0.0] for i in range(n)]
    for row in source:
        row[3] = round(100 + 10 * row[1] - 5 * row[2], 3)  # in "original units": mean 100, spread ~11
    if bad is not None:
        source[bad[0]][3] = bad[1]
    target = [[1000 + i, *np.round(rng.normal(size=2) + 0.5, 3)] for i in range(n)]
    write_table(tmp_path / "source.csv", ["id", "a", "b", "value"], source)
    write_table(tmp_path / "target.csv", ["id", "a", "b"], target)
    return tmp_path / "source.csv", tmp_path / "target.csv"


@pytest.mark.parametrize(
    ("cell", "message"),
    [
        ("abc", r"line 7, label column 'value': 'abc' is not a number"),
        ("", "line 7, label column 'value': a missing"),
        ("inf", "line 7, label column 'value': inf"),
    ],
)
def test_a_bad_regression_target_names_file_row_and_column(tmp_path, cell, message):
    from dann_lightning.data import TabularDataModule

    source, target = regression_tables(tmp_path, bad=(5, cell))
    data = TabularDataModule(source, target, label="value", id="id", task="regression")
    with pytest.raises(DataError, match=r"source file '.*source.csv' " + message):
        data.setup("fit")


def test_tabular_regression_refuses_classes(tmp_path):
    from dann_lightning.data import TabularDataModule

    source, target = regression_tables(tmp_path)
    with pytest.raises(ConfigurationError, match=r"classes=.*does not apply to task='regression'"):
        TabularDataModule(source, target, label="value", task="regression", classes=["a", "b"])


def test_without_target_standardisation_the_labels_are_the_files(tmp_path):
    from dann_lightning.data import TabularDataModule

    source, target = regression_tables(tmp_path)
    data = TabularDataModule(source, target, label="value", task="regression", standardize_target=False)
    data.setup("fit")
    assert float(data.source_train.tensors[1].mean()) == pytest.approx(100, abs=3)
    assert "target_mean" not in data.state_dict()


@pytest.mark.parametrize("kind", ["covariate", "sparse", "diabetes_bmi", "diabetes_age"])
def test_regression_shifts_move_the_inputs(kind):
    from dann_lightning.data import make_regression_shift

    shift = make_regression_shift(kind, n_samples=400, n_val=50, n_test=100, seed=1)
    x_source, x_target = shift.source_train[0], shift.target_train[0]
    assert x_source.shape[1] == x_target.shape[1] == len(shift.features) == 10
    gap = np.abs(x_source.mean(axis=0) - x_target.mean(axis=0)) / x_source.std(axis=0)
    assert gap.max() > 0.5  # some feature moves by half a standard deviation or more
    assert np.isfinite(shift.target_test[1]).all()
    again = make_regression_shift(kind, n_samples=400, n_val=50, n_test=100, seed=1)
    np.testing.assert_array_equal(again.target_test[1], shift.target_test[1])


def test_the_sparse_variant_covers_the_target_region_sparsely():
    from dann_lightning.data import make_regression_shift

    covariate = make_regression_shift("covariate", n_samples=2000, seed=0)
    sparse = make_regression_shift("sparse", n_samples=2000, seed=0)

    def coverage(shift):  # share of target rows whose nearest source row is farther than the median gap
        from scipy.spatial import cKDTree

        source, target = shift.source_train[0], shift.target_test[0]
        within_source = cKDTree(source).query(source, k=2)[0][:, 1]
        return float((cKDTree(source).query(target)[0] > np.median(within_source) * 1.5).mean())

    assert coverage(sparse) > coverage(covariate)


def test_regression_shift_data_module_arguments_are_checked():
    from dann_lightning.data import RegressionShiftDataModule

    with pytest.raises(ConfigurationError, match="n_features must be an integer from 8 to 20, got 30"):
        RegressionShiftDataModule(n_features=30)
    with pytest.raises(ConfigurationError, match=r"kind.*'friedman'"):
        RegressionShiftDataModule(kind="friedman")
    data = RegressionShiftDataModule("diabetes_bmi", batch_size=16)
    data.setup("fit")
    assert data.task == "regression" and data.feature_names[2] == "bmi"


# ------------------------------------------------------------------ predict and export, in the label's units
