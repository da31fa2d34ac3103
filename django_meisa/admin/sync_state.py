"""Admin for per-user contact sync state."""
