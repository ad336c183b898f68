"""``DANNClassifier`` and ``DANNRegressor``: domain-adversarial training behind scikit-learn's
estimator interface, sharing one base (its parameters, ``fit``, ``transform``).

Numpy in, numpy out: ``fit(X, y, X_target=...)`` trains [`DANNLitModule`][dann_lightning.DANNLitModule] with a
Lightning ``Trainer`` on labelled source rows ``X, y`` and unlabelled target rows ``X_target``;
``predict``, ``predict_proba`` (classifier), ``score`` (accuracy; R² for the regressor) and
``transform`` (the learned features) follow, and ``export`` writes what ``dann-lightning export`` writes.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from functools import partial
from numbers import Integral
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, TransformerMixin
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_array, check_is_fitted, validate_data
from torch import nn

from dann_lightning.checks import check_choice, check_int, check_real
from dann_lightning.data_arrays import StandardizedArraysDataModule, standardized_rows
from dann_lightning.errors import ConfigurationError, DataError
from dann_lightning.export import ExportFormat, export_model
from dann_lightning.lambda_search import DEFAULT_LAMBDA_CANDIDATES, SOURCE_LABEL_CRITERIA
from dann_lightning.module import DANNLitModule
from dann_lightning.nets import ACTIVATIONS, MLP, DomainDiscriminator
from dann_lightning.preprocessing import TABLE_INPUT, Standardize, Unstandardize
from dann_lightning.quiet import quiet_lightning, quiet_trainer

_INFERENCE_ROWS = 8192  # rows per forward pass in predict / transform: bounds memory, not results
_FLOATS = (np.float64, np.float32)


class _DANNEstimator(TransformerMixin, BaseEstimator):
    """What the classifier and the regressor share: the parameters (documented on
    [`DANNClassifier`][dann_lightning.sklearn.DANNClassifier]), the training and ``transform``. A
    subclass says what its targets are (``_check_targets``, ``_encode_targets``) and what the
    model predicts (``_task``)."""

    _task = "classification"
    # What None means for lambda_max and lambda_criterion: each estimator's measured choice.
    _default_lambda_max: float = 0.03
    _default_lambda_criterion: str = "iwa"

    def __init__(
        self,
        hidden_features: Sequence[int] = (128, 128),
        discriminator_hidden_features: Sequence[int] = (128,),
        activation: str = "tanh",
        lr: float = 3e-4,
        loss: str | None = None,
        lambda_max: float | str | None = None,
        lambda_candidates: Sequence[float] = DEFAULT_LAMBDA_CANDIDATES,
        lambda_criterion: str | None = None,
        lambda_keep: str = "best",
        lambda_margin: float | None = None,
        mcc_weight: float = 0.0,
        label_shift: bool = False,
        validation_fraction: float = 0.2,
        lambda_schedule: str = "ganin",
        lr_schedule: str = "ganin",
        batch_size: int = 64,
        max_epochs: int = 200,
        standardize: bool = True,
        random_state: int | np.random.RandomState | None = None,
        accelerator: str = "cpu",
        devices: int | str | Sequence[int] = 1,
        verbose: bool = False,
    ) -> None:
        self.hidden_features = hidden_features
        self.discriminator_hidden_features = discriminator_hidden_features
        self.activation = activation
        self.lr = lr
        self.loss = loss
        self.lambda_max = lambda_max
        self.lambda_candidates = lambda_candidates
        self.lambda_criterion = lambda_criterion
        self.lambda_keep = lambda_keep
        self.lambda_margin = lambda_margin
        self.mcc_weight = mcc_weight
        self.label_shift = label_shift
        self.validation_fraction = validation_fraction
        self.lambda_schedule = lambda_schedule
        self.lr_schedule = lr_schedule
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.standardize = standardize
        self.random_state = random_state
        self.accelerator = accelerator
        self.devices = devices
        self.verbose = verbose

    def fit(self, X: Any, y: Any, X_target: Any = None) -> _DANNEstimator:
        """Train on labelled source rows ``X, y`` (``y``: classes, or numbers for the regressor)
        and unlabelled target rows ``X_target``, shape ``(n_target_samples, n_features)``; return
        the fitted estimator."""
        self._check_params()
        X, y = validate_data(self, X, y, dtype=_FLOATS, y_numeric=self._task == "regression")
        self._check_targets(y)
        if X_target is None:
            raise DataError(
                f"{type(self).__name__}.fit needs the unlabelled target rows: call fit(X, y, X_target=...) with "
                f"X_target of shape (n_target_samples, {X.shape[1]}); got X_target=None"
            )
        try:
            X_target = check_array(X_target, dtype=_FLOATS, input_name="X_target")
        except ValueError as error:
            raise DataError(f"X_target: {error}") from error
        if X_target.shape[1] != X.shape[1]:
            raise DataError(
                f"X_target has {X_target.shape[1]} features per row but X has {X.shape[1]}; source and target "
                "rows must have the same features, in the same order"
            )
        y_encoded, width, learned = self._encode_targets(y)
        lambda_max, criterion = self._lambda_settings()
        searching, seed = lambda_max == "auto", self._seed()
        data = StandardizedArraysDataModule.fit_arrays(
            X,
            y_encoded,
            X_target,
            task=self._task,
            standardize=self.standardize,
            val_fraction=self.validation_fraction if searching and criterion in SOURCE_LABEL_CRITERIA else None,
            seed=seed,
            classes=learned.get("classes_"),
            batch_size=self.batch_size,
        )
        with torch.random.fork_rng(devices=[]), quiet_lightning(self.verbose), tempfile.TemporaryDirectory() as root:
            torch.manual_seed(seed)
            module = self._build_module(X.shape[1], width, lambda_max, criterion)
            trainer = quiet_trainer(
                validate_at_end_only=searching,  # to choose lambda_max="auto"'s candidate
                accelerator=self.accelerator,
                devices=self.devices,
                max_epochs=self.max_epochs,
                default_root_dir=root,
                enable_progress_bar=self.verbose,
                enable_model_summary=self.verbose,
            )
            trainer.fit(module, datamodule=data)
        module.trainer = None  # the Trainer and its temporary directory are gone
        self.module_ = module.cpu().eval()
        for name, value in learned.items():
            setattr(self, name, value)
        self.scaler_ = data.scaler
        self._set_target_statistics(data.target_statistics)
        search = module.lambda_search
        self.lambda_max_ = search.chosen_lambda if search is not None else float(lambda_max)
        self.lambda_scores_ = dict(search.last_scores) if search is not None else {}
        return self

    def _set_target_statistics(self, statistics: tuple[float, float] | None) -> None:
        """Keep what the data module standardised the labels with (the regressor's)."""

    def _check_targets(self, y: np.ndarray) -> None:
        """Raise for targets this estimator cannot learn (before the target rows are checked)."""
        raise NotImplementedError

    def _encode_targets(self, y: np.ndarray) -> tuple[np.ndarray, int, dict[str, Any]]:
        """The labels the model trains on, its output width, and the learned attributes they give."""
        raise NotImplementedError

    def transform(self, X: Any) -> np.ndarray:
        """The learned features (the feature extractor's output), shape ``(n_samples, hidden_features[-1])``."""
        return self._forward(X, lambda module, x: module.feature_extractor(x))

    def export(self, out_dir: str | Path, *, formats: Sequence[ExportFormat] | None = None) -> dict[str, Path]:
        """Write the fitted model for deployment, as ``dann-lightning export`` writes a checkpoint's:
        ``model.pt2`` and ``model.onnx`` (``formats``; default: pt2, and ONNX where its packages are
        installed) taking raw rows, the standardisation folded in, and ``export.json`` saying what
        they take and return ([`export_model`][dann_lightning.export.export_model]).

        The classifier's files return logits (their softmax is ``predict_proba``), the
        regressor's the predicted numbers in ``y``'s units (``predict``).

        Returns:
            The written file of each format.
        """
        check_is_fitted(self)
        feature_names = getattr(self, "feature_names_in_", None)
        order = "feature_names" if feature_names is not None else "X's"
        return export_model(
            self.module_,
            out_dir,
            input_shape=(self.n_features_in_,),
            preprocessing=Standardize.from_statistics(self.scaler_) if self.scaler_ is not None else None,
            formats=formats,
            metadata={
                "input": TABLE_INPUT.format(order=order),
                "feature_names": None if feature_names is None else [str(name) for name in feature_names],
                "estimator": type(self).__name__,
            },
            **self._outputs(),
        )

    def _outputs(self) -> dict[str, Any]:
        """What the exported model's outputs are: ``class_names`` or a ``postprocessing``."""
        raise NotImplementedError

    def _logits(self, X: Any) -> np.ndarray:
        return self._forward(X, lambda module, x: module(x))

    def _forward(self, X: Any, network: Any) -> np.ndarray:
        check_is_fitted(self)
        X = validate_data(self, X, dtype=_FLOATS, reset=False)
        x = torch.from_numpy(standardized_rows(self.scaler_, X))
        with torch.no_grad():
            chunks = [network(self.module_, chunk) for chunk in x.split(_INFERENCE_ROWS)]
        return torch.cat(chunks).flatten(1).numpy()

    def _seed(self) -> int:
        if isinstance(self.random_state, Integral) and not isinstance(self.random_state, bool):
            return int(self.random_state)  # as configs/moons.yaml's seed_everything: the same int, the same run
        return int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))

    def _build_module(self, n_features: int, width: int, lambda_max: float | str, criterion: str) -> DANNLitModule:
        n_outputs, width = width, list(self.hidden_features)[-1]
        task = {"task": "regression", "num_outputs": n_outputs} if self._task == "regression" else {}
        # The order of construction is the CLI's: a seed gives the weights configs/moons.yaml starts from.
        return DANNLitModule(
            feature_extractor=MLP(n_features, list(self.hidden_features), activation=self.activation),
            classifier=nn.Linear(width, n_outputs),
            discriminator=DomainDiscriminator(
                width, list(self.discriminator_hidden_features), activation=self.activation
            ),
            num_classes=None if task else n_outputs,
            **task,
            optimizer=partial(torch.optim.Adam, lr=self.lr),
            loss=self.loss,
            lambda_max=lambda_max,
            lambda_candidates=self.lambda_candidates,
            lambda_criterion=criterion,
            lambda_keep=self.lambda_keep,
            lambda_margin=self.lambda_margin,
            mcc_weight=self.mcc_weight,
            label_shift=self.label_shift,
            lambda_schedule=self.lambda_schedule,
            lr_schedule=self.lr_schedule,
        )

    def _lambda_settings(self) -> tuple[float | str, str]:
        """``lambda_max`` and ``lambda_criterion``, ``None`` replaced by this estimator's default."""
        lambda_max = self._default_lambda_max if self.lambda_max is None else self.lambda_max
        criterion = self._default_lambda_criterion if self.lambda_criterion is None else self.lambda_criterion
        return lambda_max, criterion

    def _check_params(self) -> None:
        name = type(self).__name__
        for param, minimum in [("hidden_features", 1), ("discriminator_hidden_features", 0)]:
            widths = getattr(self, param)
            if isinstance(widths, (str, bytes)) or not isinstance(widths, Sequence) or len(widths) < minimum:
                least = "a non-empty" if minimum else "a"
                raise ConfigurationError(
                    f"{name} {param} must be {least} sequence of positive integers (layer widths), got {widths!r}"
                )
            for index, width in enumerate(widths):
                check_int(f"{name} {param}[{index}]", width, minimum=1)
        check_choice(f"{name} activation", self.activation, sorted(ACTIVATIONS))
        for param in ("batch_size", "max_epochs"):
            check_int(f"{name} {param}", getattr(self, param), minimum=1)
        check_real(f"{name} lr", self.lr, minimum=0.0, strict=True)
        check_real(f"{name} validation_fraction", self.validation_fraction, minimum=0.0, maximum=1.0, strict=True)
        # lambda_max and the schedule names are checked by DANNLitModule, with the valid values listed.

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float32"]  # the networks compute in float32
        return tags


class DANNClassifier(ClassifierMixin, _DANNEstimator):
    """A DANN classifier with scikit-learn's interface, trained by a Lightning ``Trainer``.

    The networks are [`MLP`][dann_lightning.nets.MLP] features (``hidden_features``, activated), a
    linear classifier and a [`DomainDiscriminator`][dann_lightning.nets.DomainDiscriminator], trained as
    ``configs/moons.yaml`` trains them (tanh 128-128, Adam 3e-4, the paper's schedules, batch 64,
    200 epochs) but with the module's ``lambda_max``, 0.03 (``lambda_max=1.0``: the config's run).

    Inputs are standardised with the source rows' statistics (``standardize=True``). Labels may be
    any values (``classes_``). ``random_state`` seeds the initialisation and the shuffling (the
    caller's random state is left as it was); on CPU the same ``random_state`` gives the same model.
    Training runs quietly unless ``verbose``; prediction runs on the CPU.

    scikit-learn's ``check_estimator`` cannot pass ``X_target``. A subclass whose ``fit(X, y)`` calls
    ``fit(X, y, X_target=X)`` passes every check of scikit-learn 1.9 (``tests/integration/test_sklearn_end_to_end.py``);
    none is expected to fail. In a ``Pipeline``, ``X_target`` reaches this step as given, not
    through the steps before it: transform it yourself, or let ``standardize`` do the scaling.

    Args:
        hidden_features: widths of the feature extractor's hidden layers; the last is the feature
            width ``transform`` returns.
        discriminator_hidden_features: widths of the domain discriminator's hidden layers.
        activation: activation of both networks, one of
            [`dann_lightning.nets.ACTIVATIONS`][dann_lightning.nets.ACTIVATIONS].
        lr: Adam's initial learning rate.
        loss: ``None`` for the task's (cross-entropy; mean squared error), or the regressor's
            ``"huber"`` ([`LOSSES`][dann_lightning.tasks.LOSSES]).
        lambda_max: final weight of the reversed domain gradient (0: source-only); ``"auto"``
            chooses among ``lambda_candidates`` without target labels (``lambda_max_``,
            ``lambda_scores_``); ``None``: 0.03 here (the module's), 0.1 for the regressor.
        lambda_candidates: as [`DANNLitModule`][dann_lightning.DANNLitModule]'s, like the next five.
        lambda_criterion: ``None``: ``"iwa"``.
        lambda_keep: ``"best"`` or ``"combination"``.
        lambda_margin: ``None``: the task's.
        mcc_weight: the classifier's only.
        label_shift: the classifier's only.
        validation_fraction: with ``lambda_max="auto"`` and a criterion that reads source labels
            (``"iwa"``, the default): the fraction of source rows held out to score on.
        lambda_schedule: ``"ganin"`` (the paper's ramp) or ``"constant"``.
        lr_schedule: ``"ganin"``, ``"cosine"`` or ``"constant"``.
        batch_size: samples per domain per step; clipped to the smaller domain's number of rows.
        max_epochs: epochs of training (an epoch covers the larger domain once).
        standardize: scale inputs with the source's statistics before the networks see them.
        random_state: ``None``, an int, or a ``numpy.random.RandomState``.
        accelerator: the Trainer's ``accelerator`` (``"cpu"``, ``"gpu"``, ``"auto"``, ...).
        devices: the Trainer's ``devices``.
        verbose: show Lightning's progress bar, model summary and messages.

    Attributes:
        classes_: the class labels, sorted (``numpy.unique`` of ``y``).
        n_features_in_: number of input features.
        feature_names_in_: column names, when ``X`` was a data frame with string column names.
        scaler_: the [`Standardizer`][dann_lightning.data.Standardizer] fitted on ``X`` (its ``mean``
            and ``std``; ``None`` with ``standardize=False``).
        module_: the trained [`DANNLitModule`][dann_lightning.DANNLitModule], on the CPU, in eval mode.
        lambda_max_: the ``lambda_max`` of the kept model (``lambda_max`` itself unless ``"auto"``).
        lambda_scores_: with ``lambda_max="auto"``: each candidate's score, by its ``lambda_max``.

    Examples:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> X = rng.normal(size=(200, 2)); y = np.where(X[:, 0] > 0, "right", "left")
        >>> X_target = rng.normal(size=(200, 2)) + [0.5, 0.0]
        >>> clf = DANNClassifier(hidden_features=(16,), max_epochs=5, lr=1e-2, random_state=0)
        >>> clf.fit(X, y, X_target=X_target).predict(X[:3]).tolist()
        ['right', 'right', 'left']
        >>> clf.predict_proba(X[:3]).shape, clf.transform(X[:3]).shape
        ((3, 2), (3, 16))
    """

    def fit(self, X: Any, y: Any, X_target: Any = None) -> DANNClassifier:
        """Train on labelled source rows ``X, y`` and unlabelled target rows ``X_target``.

        Args:
            X: source features, shape ``(n_samples, n_features)``.
            y: source labels, shape ``(n_samples,)``, at least two distinct values.
            X_target: target features, shape ``(n_target_samples, n_features)``; required.

        Returns:
            The fitted estimator.
        """
        return super().fit(X, y, X_target=X_target)

    def _check_targets(self, y: np.ndarray) -> None:
        check_classification_targets(y)

    def _encode_targets(self, y: np.ndarray) -> tuple[np.ndarray, int, dict[str, Any]]:
        classes, y_encoded = np.unique(y, return_inverse=True)
        if len(classes) < 2:
            raise DataError(f"y holds only one class ({classes[0]!r}); {type(self).__name__} needs at least 2 classes")
        return y_encoded, len(classes), {"classes_": classes}

    def predict(self, X: Any) -> np.ndarray:
        """The most probable class of each row, as one of ``classes_``."""
        predicted = self._logits(X).argmax(axis=1)  # first: NotFittedError before any attribute is read
        return self.classes_[predicted]

    def _outputs(self) -> dict[str, Any]:
        return {"class_names": [str(name) for name in self.classes_]}

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, shape ``(n_samples, n_classes)``, columns in the order of ``classes_``."""
        logits = torch.from_numpy(self._logits(X)).double()
        return torch.softmax(logits, dim=1).numpy()


class DANNRegressor(RegressorMixin, _DANNEstimator):
    """A DANN regressor with scikit-learn's interface: [`DANNClassifier`][dann_lightning.sklearn.DANNClassifier]'s
    parameters, networks and training, with a linear output of one number per row trained with the
    mean squared error, or the Huber loss with ``loss="huber"`` (``DANNLitModule(task="regression")``).

    With ``standardize=True`` the targets are standardised too, with the mean and standard deviation
    of the source targets ``y`` (``y_mean_``, ``y_std_``); ``predict`` returns numbers in ``y``'s
    units. ``score`` is R².

    ``lambda_max`` defaults to 0.1 (on the regression shifts of ``docs/regression.md`` 1.0 cost
    18-64% in target RMSE, 0.1 cost 2-15%); ``"auto"`` keeps an adapted candidate only two
    standard errors ahead of source-only, the regression task's margin. A subclass whose
    ``fit(X, y)`` calls ``fit(X, y, X_target=X)`` passes ``check_estimator``.

    Attributes:
        n_features_in_: number of input features.
        feature_names_in_: column names, when ``X`` was a data frame with string column names.
        scaler_: the [`Standardizer`][dann_lightning.data.Standardizer] fitted on ``X`` (its ``mean``
            and ``std``; ``None`` with ``standardize=False``).
        y_mean_, y_std_: the statistics the targets were standardised with (0 and 1 without).
        module_: the trained [`DANNLitModule`][dann_lightning.DANNLitModule], on the CPU, in eval mode.
        lambda_max_: the ``lambda_max`` of the kept model.
        lambda_scores_: with ``lambda_max="auto"``: each candidate's score, by its ``lambda_max``.

    Examples:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> X = rng.normal(size=(200, 3)); y = 10 + 3 * X[:, 0] - X[:, 1]
        >>> X_target = rng.normal(size=(200, 3)) + [0.5, 0.0, 0.0]
        >>> reg = DANNRegressor(hidden_features=(16,), max_epochs=20, lr=1e-2, random_state=0)
        >>> reg.fit(X, y, X_target=X_target).score(X, y) > 0.8  # R²
        True
        >>> reg.predict(X[:3]).shape, reg.transform(X[:3]).shape
        ((3,), (3, 16))
    """

    _task = "regression"
    _default_lambda_max = 0.1

    def fit(self, X: Any, y: Any, X_target: Any = None) -> DANNRegressor:
        """Train on source rows ``X`` with numeric targets ``y``, shape ``(n_samples,)``, and
        unlabelled target rows ``X_target``, shape ``(n_target_samples, n_features)``; required.

        Returns:
            The fitted estimator.
        """
        return super().fit(X, y, X_target=X_target)

    def predict(self, X: Any) -> np.ndarray:
        """The predicted number of each row, in the units of the ``y`` it was fitted on."""
        outputs = self._forward(X, lambda module, x: module(x))[:, 0].astype(np.float64)
        return outputs * self.y_std_ + self.y_mean_

    def _check_targets(self, y: np.ndarray) -> None:
        if not np.isfinite(y).all():
            raise DataError(f"y row {int(np.flatnonzero(~np.isfinite(y))[0])} is not a finite number")

    def _encode_targets(self, y: np.ndarray) -> tuple[np.ndarray, int, dict[str, Any]]:
        return y, 1, {}  # standardised by the data module (standardize=True)

    def _set_target_statistics(self, statistics: tuple[float, float] | None) -> None:
        self.y_mean_, self.y_std_ = statistics or (0.0, 1.0)

    def _outputs(self) -> dict[str, Any]:
        unscaled = (self.y_mean_, self.y_std_) == (0.0, 1.0)
        return {"postprocessing": None if unscaled else Unstandardize(self.y_mean_, self.y_std_)}
