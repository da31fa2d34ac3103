"""Contact sync: a user change becomes one Meisa upsert, once, after the transaction commits."""
