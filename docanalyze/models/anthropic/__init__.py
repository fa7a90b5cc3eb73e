"""Claude through the Messages API: the client, its one retry loop, pacing, concurrency, fallback
and messages, and what only Claude has: the model table, its request rules and the Models API."""
