"""The PyPI source: project metadata and release lists from the JSON API."""
