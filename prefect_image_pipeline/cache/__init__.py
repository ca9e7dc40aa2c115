"""Never paying twice: cache keys, cache records, where they are stored and their locks.

keys.py     what makes two requests "the same" (and the cache versions)
records.py  what a record holds, as JSON (never a pickle)
shared.py   records in an S3 bucket every host reads (IMAGE_PIPELINE_CACHE_BLOCK)
locks.py    one generation per key across processes: file locks, or Redis leases
"""
