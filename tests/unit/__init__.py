"""Unit tests, one file per concept of the package; quick (python -m pytest -m "not slow")."""
