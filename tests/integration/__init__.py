"""Integration suite: django-meisa on real services and separate processes."""
