"""The one query behind each figure, read in the caller's transaction (pure reads)."""
