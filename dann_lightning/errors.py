"""The errors dann_lightning raises on purpose. Each also subclasses the built-in a caller may expect."""

from __future__ import annotations


class DANNError(Exception):
    """Base of every error this library raises about a user's input, data, run or files."""


class CheckpointError(DANNError, ValueError):
    """A checkpoint file is missing, truncated, or not one this library can load."""


class DivergenceError(DANNError, RuntimeError):
    """Training produced a non-finite loss; it stopped before writing a checkpoint of it."""


class OutputDirectoryError(DANNError, OSError):
    """A log or checkpoint directory cannot be written."""


class ConfigurationError(DANNError, ValueError, TypeError):
    """An argument has a wrong value or type, or names an unknown option."""


class DataError(DANNError, ValueError, TypeError):
    """Data do not fit what the model or data module expects (shapes, labels, values, files)."""


class MissingFileError(DataError, FileNotFoundError):
    """A data file or folder the user named does not exist."""


class MissingDependencyError(DANNError, ImportError):
    """An optional package a feature needs is not installed; the message says what to install."""
