"""Fleet pacing: how fast this run and every host together may send images to OpenAI."""
