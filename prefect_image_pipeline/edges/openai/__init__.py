"""OpenAI: the client a run uses, its HTTP transport (held at
pacing.cooldown's 429 gate), and its errors."""
