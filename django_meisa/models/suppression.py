"""The local mirror of Meisa's do-not-email list."""

__all__: list[str] = []
