"""Artifacts: binary blobs by key (memory, file, S3) and their registry records."""
