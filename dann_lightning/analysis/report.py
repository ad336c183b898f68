"""`dann-lightning analyze`: compare checkpoints on what can and cannot be seen without target labels.

For each checkpoint: accuracy per domain (an oracle where target labels exist; for a regression
model MAE, RMSE and R² in the label's units), the proxy A-distance of the features, an embedding
plot, and the unsupervised selection scores the task has (regression: DEV).

    dann-lightning analyze source_only.ckpt dann.ckpt --out analysis/
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import lightning as L
import torch
from torch import Tensor
from torch.utils.data import DataLoader

from dann_lightning import checkpoints
from dann_lightning.analysis.embedding import embedding_figure
from dann_lightning.analysis.pad import DEFAULT_PAD_CLASSIFIER, PADClassifier, pad_name, proxy_a_distance
from dann_lightning.batch import unpack_evaluation_batch
from dann_lightning.checks import check_int, choices_of
from dann_lightning.data.contract import domain_data
from dann_lightning.errors import DataError
from dann_lightning.selection import SelectionScore
from dann_lightning.tasks import ClassificationTask, Task

QUALITY = {"acc": "acc", "mae": "MAE", "rmse": "RMSE", "r2": "R²"}  # the tasks' metric names
SPLITS = {
    "source_val": "source val {}",
    "target_val": "target val {} (oracle)",
    "target_test": "target test {} (oracle)",
}
COLUMNS = [
    *((f"{split}_{name}", title.format(shown)) for name, shown in QUALITY.items() for split, title in SPLITS.items()),
    ("pad", "PAD, linear SVM (lower: aligned)"),
    ("pad_logistic", "PAD, logistic regression (lower: aligned)"),
    ("entropy", "entropy (lower)"),
    ("im", "IM (higher)"),
    ("snd", "SND (higher)"),
    ("dev", "DEV (lower)"),
]


@torch.no_grad()
def collect(model: L.LightningModule, loader: DataLoader) -> dict[str, Tensor | None]:
    """Features, logits and labels (``None`` without labels) of a whole loader, in eval mode."""
    features, logits, labels = [], [], []
    for batch in loader:
        x, y = unpack_evaluation_batch(batch)
        x = x.to(model.device)
        f = model.feature_extractor(x)
        features.append(f.flatten(1).float().cpu())
        logits.append(model(x).float().cpu())  # the deployed model's (a combination of candidates, if kept)
        labels.append(None if y is None else y.cpu())
    has_labels = all(y is not None for y in labels)
    return {
        "features": torch.cat(features),
        "logits": torch.cat(logits),
        "labels": torch.cat(labels) if has_labels else None,
    }


def analyze_model(
    model: L.LightningModule,
    datamodule: L.LightningDataModule,
    *,
    max_samples: int = 1000,
    pad_classifier: PADClassifier = DEFAULT_PAD_CLASSIFIER,
    embedding: str | None = "pca",
    embedding_path: Path | None = None,
    title: str = "",
) -> dict[str, Any]:
    """All the numbers of one model on one data module's validation and test data.

    The PAD (key ``pad_name(pad_classifier)``: ``pad`` for the default linear SVM, ``pad_logistic``
    otherwise) is ``proxy_a_distance`` of the first ``max_samples`` validation features per domain,
    with its defaults: the samples and the estimator ``ProxyADistanceCallback`` uses, so with the
    same ``max_samples`` (1000 in both by default) it equals the callback's ``val/pad`` for the
    same weights on one process.
    """
    pad_key = pad_name(pad_classifier)  # checks pad_classifier before any work
    check_int("max_samples", max_samples, minimum=2)
    model.eval()
    datamodule.setup("validate")
    val, test = _by_domain(datamodule.val_dataloader(), "val"), {}
    try:
        datamodule.setup("test")
        test = _by_domain(datamodule.test_dataloader(), "test")
    except DataError:  # a target without labels has no test split: everything but the oracle column is reported
        pass
    if "source" not in val or "target" not in val:
        raise DataError(f"{type(datamodule).__name__} needs source and target validation data to be analysed")
    data = {"source_val": collect(model, val["source"]), "target_val": collect(model, val["target"])}
    if "target" in test:
        data["target_test"] = collect(model, test["target"])

    task = _task_of(model)
    described = domain_data(datamodule)  # a user's own data module: the numbers as it serves them
    if task.name == "regression" and described is not None:  # in the label's units, as the module logs them
        for split_data in data.values():
            split_data["logits"] = described.unscale_targets(split_data["logits"])
            if split_data["labels"] is not None:
                split_data["labels"] = described.unscale_targets(split_data["labels"])
    result: dict[str, Any] = {}
    for split, split_data in data.items():
        result.update({f"{split}_{name}": value for name, value in _quality(task, split_data).items()})
    source, target = data["source_val"], data["target_val"]
    result[pad_key] = proxy_a_distance(
        source["features"][:max_samples], target["features"][:max_samples], classifier=pad_classifier
    )
    result.update(_selection_scores(task, source, target, max_samples))
    if embedding and embedding_path is not None:
        figure = embedding_figure(
            source["features"][:max_samples],
            target["features"][:max_samples],
            None if source["labels"] is None else source["labels"][:max_samples],
            None if target["labels"] is None else target["labels"][:max_samples],
            method=embedding,
            title=title,
        )
        figure.savefig(embedding_path)
        result["embedding"] = str(embedding_path)
    return result


def analyze_checkpoints(paths: Sequence[str | Path], out_dir: str | Path, **options: Any) -> list[dict[str, Any]]:
    """``analyze_model`` for checkpoints written by ``dann-lightning fit``; writes the report files."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for index, path in enumerate(paths):
        path = Path(path)
        model, datamodule = load_run(path)
        name = f"{index}_{path.parent.parent.name}_{path.stem}" if path.parent.name == "checkpoints" else path.stem
        row = {"checkpoint": str(path)}
        row.update(
            analyze_model(model, datamodule, embedding_path=out / f"{name}_embedding.png", title=name, **options)
        )
        rows.append(row)
    (out / "summary.json").write_text(json.dumps(rows, indent=2))
    (out / "summary.md").write_text(markdown_table(rows))
    return rows


def load_run(path: str | Path) -> tuple[L.LightningModule, L.LightningDataModule]:
    """The model and data module of a checkpoint written through the CLI (which stores both configs):
    ``dann_lightning.checkpoints.load_run``."""
    model, datamodule = checkpoints.load_run(
        path,
        needs_data=True,
        instead="load the model in Python and call dann_lightning.analysis.report.analyze_model(model, datamodule)",
    )
    assert datamodule is not None  # needs_data
    return model, datamodule


def markdown_table(rows: Sequence[Mapping[str, Any]]) -> str:
    present = [(key, title) for key, title in COLUMNS if any(key in row for row in rows)]
    lines = ["| checkpoint | " + " | ".join(title for _, title in present) + " |", "|---" * (len(present) + 1) + "|"]
    for row in rows:
        cells = [_format(row.get(key)) for key, _ in present]
        lines.append(f"| {row['checkpoint']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="dann-lightning analyze", description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoints", nargs="+", help="checkpoints written by `dann-lightning fit`")
    parser.add_argument("--out", default="analysis", help="folder for summary.md, summary.json and the plots")
    parser.add_argument("--max-samples", type=int, default=1000, help="samples per domain for PAD and plots")
    parser.add_argument(
        "--pad-classifier",
        choices=choices_of(PADClassifier),
        default=DEFAULT_PAD_CLASSIFIER,
        help="estimator of the proxy A-distance; another than the default is reported as pad_<name>",
    )
    parser.add_argument("--embedding", choices=["pca", "tsne"], default="tsne")
    args = parser.parse_args(argv)
    rows = analyze_checkpoints(
        args.checkpoints,
        args.out,
        max_samples=args.max_samples,
        pad_classifier=args.pad_classifier,
        embedding=args.embedding,
    )
    print(markdown_table(rows))
    print(f"written to {Path(args.out).resolve()}")


def _by_domain(loaders: Any, stage: str) -> dict[str, DataLoader]:
    if isinstance(loaders, Mapping):
        return dict(loaders)
    order = ("source", "target") if stage == "val" else ("target",)
    loaders = loaders if isinstance(loaders, (list, tuple)) else [loaders]
    return dict(zip(order, loaders, strict=False))


def _task_of(model: L.LightningModule) -> Task:
    """The model's task (``DANNLitModule.task``); a module without one is taken as a classifier."""
    task = getattr(model, "task", None)
    if task is None:
        with torch.no_grad():
            width = model.classifier(model.feature_extractor(model.example_input_array)).shape[1]
        task = ClassificationTask(width)
    return task


def _quality(task: Task, data: Mapping[str, Tensor | None]) -> dict[str, float | None]:
    """The task's metrics (accuracy; MAE, RMSE, R²), ``None`` without labels."""
    if data["labels"] is None:
        return dict.fromkeys(task.metric_names)
    result = {}
    for name, metric in task.metrics().items():
        task.update_metric(metric, data["logits"], data["labels"])
        result[name] = metric.compute().item()
    return result


def _selection_scores(
    task: Task, source: Mapping[str, Any], target: Mapping[str, Any], max_samples: int
) -> dict[str, float]:
    """The task's label-free scores (the registry's), on at most ``max_samples`` rows per domain."""
    result = {}
    for name in task.selection_scores:
        score = SelectionScore(name, task.width, task.sample_losses, max_samples=max_samples)
        score.update("target", None, target["features"], target["logits"])
        score.update("source", None, source["features"], source["logits"], source["labels"])
        if score.has_data:  # DEV needs labelled source rows
            result[name] = score.compute()
    return result


def _format(value: Any) -> str:
    return "" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)


if __name__ == "__main__":
    main()
