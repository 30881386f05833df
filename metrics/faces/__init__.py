"""Faces other than the pages: the Prometheus exporter, `revwatch show`, CSV/Excel exports, the weekly report."""
