"""pytest fixtures for the reference cloud (broker, cloud model)."""
