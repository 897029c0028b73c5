"""Load stage: column types, DDL, and the COPY-then-upsert batch writer."""
