"""Batch mode: OpenAI's Batch API at half price, for work that can wait up to 24 hours.

A run in batch mode does not generate: each image that is not already cached becomes one
line of a JSONL file (``lines``), the file is uploaded and a batch created (``submit``),
and the batch is written to a ledger in the bucket before the run returns (``ledger``).
A later round (``--wait``, the next scheduled run, or ``collect-batches``) downloads
the answers (``collect``) and runs the normal pipeline with a generator that answers
from them (``answers``): the cache is filled exactly as an interactive run would fill
it, so no image is paid twice, whichever path asks for it next. ``rounds`` ties the
steps together for a flow.
"""
