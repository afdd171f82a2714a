"""Events: the bus every component records through, the history API, live streams and
webhook notifications."""
