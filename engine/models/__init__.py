"""Model location, loading and conversion."""
