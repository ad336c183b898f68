"""2-D projections of source and target features, drawn as in the paper's figures."""

from __future__ import annotations

from typing import Literal

import numpy as np
from matplotlib.figure import Figure
from sklearn.decomposition import PCA
from sklearn.manifold import TSNE

from dann_lightning.analysis._inputs import as_feature_matrix, check_same_width
from dann_lightning.checks import check_choice

ProjectionMethod = Literal["tsne", "pca"]
_MARKERS = "o^sDvP*Xh<>p"


def project_2d(features: object, method: ProjectionMethod = "tsne", seed: int = 0) -> np.ndarray:
    """``(N, D)`` features -> ``(N, 2)`` with t-SNE (the paper's) or PCA (fast)."""
    check_choice("projection method", method, ProjectionMethod)
    x = as_feature_matrix(features, "features", min_samples=3)
    if method == "pca":
        return PCA(n_components=2, random_state=seed).fit_transform(x) if x.shape[1] > 2 else x[:, :2]
    perplexity = min(30.0, (len(x) - 1) / 3)
    return TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(x)


def embedding_figure(
    source_features: object,
    target_features: object,
    source_labels: object | None = None,
    target_labels: object | None = None,
    *,
    method: ProjectionMethod = "tsne",
    seed: int = 0,
    title: str = "",
) -> Figure:
    """A scatter plot of both domains projected together: colour = domain, marker = class.

    Floating-point labels (a regression model's numbers) are no classes: those points get one marker.
    """
    source = as_feature_matrix(source_features, "source_features", min_samples=1)
    target = as_feature_matrix(target_features, "target_features", min_samples=1)
    check_same_width(source, "source_features", target, "target_features")
    points = project_2d(np.concatenate([source, target]), method, seed)
    figure = Figure(figsize=(5, 5), dpi=100)
    axes = figure.add_subplot()
    for name, colour, xy, labels in [
        ("source", "tab:blue", points[: len(source)], source_labels),
        ("target", "tab:red", points[len(source) :], target_labels),
    ]:
        if labels is None or np.asarray(labels).dtype.kind == "f":
            axes.scatter(xy[:, 0], xy[:, 1], s=8, c=colour, marker="o", alpha=0.6, label=name)
            continue
        labels = np.asarray(labels).reshape(-1)
        for index, label in enumerate(np.unique(labels)):
            chosen = labels == label
            marker = _MARKERS[index % len(_MARKERS)]
            axes.scatter(xy[chosen, 0], xy[chosen, 1], s=8, c=colour, marker=marker, alpha=0.6, label=f"{name} {label}")
    axes.set_xticks([])
    axes.set_yticks([])
    axes.set_title(title or f"{method.upper()} of features")
    axes.legend(fontsize="x-small", markerscale=2, loc="best")
    figure.tight_layout()
    return figure
