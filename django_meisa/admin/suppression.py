"""Admin for the suppression list, its refresh state and the address checker."""
