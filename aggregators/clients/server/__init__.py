"""``seckb serve``: the knowledge base over HTTP (FastAPI on uvicorn), read-only.

* :mod:`.holder` follows ``snapshots/LATEST``: it loads and verifies a new snapshot beside the one
  being served and swaps it in only once it is complete (:mod:`.view` builds what is served);
* :mod:`.osv` speaks the OSV API v1 for the PyPI ecosystem (pip-audit, uv);
* :mod:`.api` is seckb's own JSON API (packages, versions, audit, health, metrics);
* :mod:`.page` renders a package's page in HTML with a server-drawn SVG chart (:mod:`.chart`);
* :mod:`.limits`, :mod:`.protocol` and :mod:`.errors` keep it safe: capped bodies and batches,
  slow clients cut off, every error a JSON body with a message;
* :mod:`.app` puts them together and runs uvicorn.
"""
