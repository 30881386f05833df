"""What a figure means: the metric catalogue and the read queries the pages use.

Pages import from here and never hold SQL; everything here reads rollups and small tables.
"""
