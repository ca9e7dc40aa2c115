"""The ways out: what the platform hears about each image and each run.

``notice`` is what is said (one image's outcome, one run's end), ``events`` says it as
Prefect events an automation can act on, ``callbacks`` POSTs it, signed, to the platform.
"""
