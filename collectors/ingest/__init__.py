"""Ingest: one module per source, copying it into the product's own tables (files.py: the shared file mechanics)."""
