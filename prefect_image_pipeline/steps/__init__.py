"""The five steps, one module each, as plain functions that know nothing of Prefect.

load -> encode -> generate (OpenAI, or the offline stand-in) -> upload -> cleanup.
prefect_image_pipeline.pipeline wraps them in Prefect tasks and runs them in order.
"""
