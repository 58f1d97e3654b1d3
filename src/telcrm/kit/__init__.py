"""Shared mechanics used by every domain: settings, database, errors, ids, outbox, auth, audit."""
