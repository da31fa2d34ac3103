"""A user model with a UUID primary key (MEISA_TEST_USER_MODEL=uuid)."""
