"""gridward HTTP API (FastAPI) and the ``gridward`` command line."""
