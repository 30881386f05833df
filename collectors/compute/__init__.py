"""Compute: jobs that read only the product's own tables and replace a window of output in one transaction."""
