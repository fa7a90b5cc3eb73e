"""Claude through the Messages API: the client, its one retry loop, pacing, concurrency, fallback and messages."""
