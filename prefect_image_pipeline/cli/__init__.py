"""``process-image``: the command, its flags, its output, the server commands, the warm process."""
