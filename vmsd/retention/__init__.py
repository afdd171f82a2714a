"""Retention: which recordings go, and the periodic job that deletes them."""
