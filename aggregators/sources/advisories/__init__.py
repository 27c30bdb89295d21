"""The PyPA advisory-db source: git sync, OSV parsing, range evaluation and affected versions."""
