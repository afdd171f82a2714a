"""MediaMTX: its configuration, its process, its Control API."""
