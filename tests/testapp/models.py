"""Models the test suite syncs: a profile and a subscription tied to the user."""
