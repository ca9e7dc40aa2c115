"""Fast tests of steps and pure functions: no servers, no subprocess of ours."""
