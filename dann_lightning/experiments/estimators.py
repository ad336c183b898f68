"""The scikit-learn estimators against the configs (``scripts/sklearn_moons.py``) and per
lambda_max on the regression shifts (``scripts/sklearn_regression.py``)."""

from __future__ import annotations

import time

import torch

from dann_lightning.choice import choose, combine, iwa_weights
from dann_lightning.data import make_moons_shift, make_regression_shift
from dann_lightning.selection import SCORE_SPECS
from dann_lightning.sklearn import DANNClassifier, DANNRegressor
from dann_lightning.tasks import REGRESSION_CRITERIA

MARGINS = (0.0, 1.0, 2.0)  # as the classification study's


def run_estimator(seed: int) -> dict:
    """``DANNClassifier(lambda_max=1.0, random_state=seed)`` (``configs/moons.yaml``'s model) on
    ``make_moons_shift(seed=seed)``: the target test accuracy and the fit's seconds."""
    data = make_moons_shift(seed=seed)
    (x_source, y_source), (x_target, _) = data.source_train, data.target_train
    start = time.perf_counter()
    clf = DANNClassifier(lambda_max=1.0, random_state=seed).fit(x_source, y_source, X_target=x_target)
    seconds = time.perf_counter() - start
    return {"accuracy": clf.score(*data.target_test), "seconds": seconds}


def run_regressor(kind: str, lambda_max: float | str, seed: int) -> dict:
    """One fit with one torch thread (two runs share the 2 cores); RMSE on the target test rows.
    ``"auto"`` trains the candidates 0, 0.1, 0.3, 1 and keeps one by DEV (the regressor's criterion)."""
    torch.set_num_threads(1)
    shift = make_regression_shift(kind, seed=seed)
    (x_source, y_source), (x_target, _), (x_test, y_test) = shift.source_train, shift.target_train, shift.target_test
    start = time.perf_counter()
    reg = DANNRegressor(lambda_max=lambda_max, random_state=seed)
    reg.fit(x_source, y_source, X_target=x_target)
    rmse = float(((reg.predict(x_test) - y_test) ** 2).mean() ** 0.5)
    return {"rmse": rmse, "seconds": time.perf_counter() - start, "kept": reg.lambda_max_}


def lambda_value(text: str) -> float | str:
    """A ``--lambdas`` value: a number, or ``"auto"``.

    Examples:
        >>> lambda_value("0.1"), lambda_value("auto")
        (0.1, 'auto')
    """
    return text if text == "auto" else float(text)


def regressor_study(kind: str, seed: int) -> dict[str, float]:
    """``DANNRegressor(lambda_max="auto")`` with its defaults on one draw, then every regression
    criterion's pick (each margin) and the IWA combination, on the same candidates: the target test
    RMSE of each candidate (by name) and of each pick (``auto:<criterion>@<margin>``,
    ``auto:iwa_combination``)."""
    torch.set_num_threads(1)
    shift = make_regression_shift(kind, seed=seed)
    (x_source, y_source), (x_target, _), (x_test, y_test) = shift.source_train, shift.target_train, shift.target_test
    reg = DANNRegressor(lambda_max="auto", lambda_criterion="iwa", random_state=seed)
    reg.fit(x_source, y_source, X_target=x_target)
    search = reg.module_.lambda_search
    x = torch.as_tensor(x_test, dtype=torch.float32)
    x = reg.scaler_.transform(x) if reg.scaler_ is not None else x
    with torch.no_grad():
        outputs = [nets.classifier(nets.feature_extractor(x)) for nets in search.candidates]

    def rmse(standardised: torch.Tensor) -> float:
        predicted = standardised[:, 0].double().numpy() * reg.y_std_ + reg.y_mean_
        return float(((predicted - y_test) ** 2).mean() ** 0.5)

    record = {name: rmse(output) for name, output in zip(search.names, outputs, strict=True)}
    rows = search.last_outputs
    for criterion in REGRESSION_CRITERIA:
        spec = SCORE_SPECS[criterion]
        values = spec.rows(rows)
        for margin in MARGINS:
            kept = choose(values, spec.higher_is_better, rows.reference, margin).index
            record[f"auto:{criterion}@{margin:g}"] = record[search.names[kept]]
    record["auto:iwa_combination"] = rmse(combine(outputs, iwa_weights(rows), classification=False))
    return record
