"""Elasticsearch: the client wrapper, index names and templates, ingest and the local node."""
