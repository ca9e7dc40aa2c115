"""OpenAI: the client a run uses, its HTTP transport with the 429 gate, and its errors."""
