"""Seeing and choosing without target labels: proxy A-distance, embeddings, selection scores."""

from dann_lightning.analysis.pad import proxy_a_distance
from dann_lightning.analysis.scores import (
    DeepEmbeddedValidation,
    InformationMaximization,
    PredictionEntropy,
    SoftNeighborhoodDensity,
)

__all__ = [
    "DeepEmbeddedValidation",
    "InformationMaximization",
    "PredictionEntropy",
    "SoftNeighborhoodDensity",
    "proxy_a_distance",
]
