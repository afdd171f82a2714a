"""The configuration: the root model (schema) and one module per section (server, mediamtx,
recording, cameras, events, access, console; their shared base in base), loading (load), error
text (messages)."""
