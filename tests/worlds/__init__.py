"""Hand-built test worlds shared by several test modules, one module per world (builders, their
rows and the documentation of what they hold). Test modules import from here, never from
each other: see tests/test_layout.py."""
