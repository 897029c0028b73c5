"""Fetch stage: HTTP, pagination, and the REST and Python sources."""
