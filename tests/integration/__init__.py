"""Integration tests, marked slow as a group (conftest.py)."""
