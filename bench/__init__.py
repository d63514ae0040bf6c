"""`make bench`: Storefront's throughput against a bare FastAPI app (see README.md)."""
