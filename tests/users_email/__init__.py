"""An email-only user model (MEISA_TEST_USER_MODEL=email)."""
