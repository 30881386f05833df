"""Independent references the tests hold the product to (never imported by the product)."""
