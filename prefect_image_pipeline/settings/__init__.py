"""Leaves: every setting read from the environment (config) and what a bad one means."""
