"""What runs on a schedule: source readers (ingest) and compute jobs, and their run log."""
