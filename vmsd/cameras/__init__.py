"""The camera registry: validation, storage, the in-memory snapshot and live state."""
