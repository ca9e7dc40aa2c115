"""One image through the steps as Prefect tasks: the request a run resolves, its targets
(generator and store), the tasks with their caches and retries, and the reporter that owns
the step-by-step lines."""
