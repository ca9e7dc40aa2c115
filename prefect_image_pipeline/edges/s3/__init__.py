"""S3: every boto3 call. client (clients, the bucket a run publishes to), objects (get, put,
list, delete on a client), blocks (an S3Bucket block's keys, client and objects)."""
