"""Fleet pacing: how fast this run and every host together may send images to OpenAI.

schedule (the slot held around each request), rate (images per minute), cooldown (the
process-wide 429 gate)."""
