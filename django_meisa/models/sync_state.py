"""Per-user contact sync state."""

__all__: list[str] = []
