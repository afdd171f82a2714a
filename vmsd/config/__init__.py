"""The configuration: models (schema), loading (load), error text (messages)."""
