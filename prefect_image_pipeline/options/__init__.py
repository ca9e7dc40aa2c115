"""Leaves: what a run can ask for, each option defined once (definitions), with the
choices the openai SDK allows (sdk) and what each image model can do (capabilities)."""
