"""Default policy shipped with custody (default.toml)."""
