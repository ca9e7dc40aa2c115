"""The network clients the steps talk through: OpenAI (one builder, its cooldown transport
and pacing) and S3, each shared within a process per configuration."""
