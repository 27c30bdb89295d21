"""The ``popularity`` source: the top-pypi-packages dataset (the most downloaded projects)."""
