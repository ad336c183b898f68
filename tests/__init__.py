"""The test suite: unit/ (quick), integration/ (slow); shared helpers in conftest.py."""
