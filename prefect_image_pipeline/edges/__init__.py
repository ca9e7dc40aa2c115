"""The edges: every call to a service outside this process, one package per service.

openai (client, transport, errors), s3 (every boto3 call), http (URL policy, safe
downloads), prefect_server (the background Prefect server). reuse keeps the clients one
process builds.
"""
