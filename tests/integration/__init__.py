"""Tests over real protocols in this process: moto's S3, the fake OpenAI and image servers,
Redis and the session's Prefect server."""
