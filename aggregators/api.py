"""The Python API for resolvers (the stable import path documented in docs/resolvers.md).

    from aggregators.api import KnowledgeBase
    kb = KnowledgeBase.open("/srv/seckb")          # a data root (uses LATEST) or a snapshot dir
    kb = KnowledgeBase.open("s3://bucket/seckb")   # or a published location (tables cached)
    info = kb.lookup("Django", "2.2.0")            # PEP 503 names, PEP 440 equality

The implementation lives in :mod:`aggregators.clients.lookup`.
"""

from __future__ import annotations

from aggregators.clients.lookup import KnowledgeBase, Recommendation, VersionSecurity

__all__ = ["KnowledgeBase", "Recommendation", "VersionSecurity"]
