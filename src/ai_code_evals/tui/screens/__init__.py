"""Screens pushed over the workspace."""
