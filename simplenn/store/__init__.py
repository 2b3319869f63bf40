"""The run folder on disk and the readers that turn it (or pytest-benchmark JSON) into `Results`; lock; share."""
