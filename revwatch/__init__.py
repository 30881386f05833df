"""Revwatch shared plumbing: settings, database, money. Everything else builds on these."""
