"""Helpers for models/gen.py."""
