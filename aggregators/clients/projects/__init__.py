"""Watched projects: stored SBOMs and requirements files, re-evaluated after every publish.

* :mod:`.inputs` reads a project's components with the readers ``seckb audit`` uses;
* :mod:`.evaluate` judges them with the matching ``seckb audit`` uses (one rule, never a second
  matcher) and applies the triage decisions (:mod:`.triage`);
* :mod:`.events` finds the transitions between two evaluations, :mod:`.documents` renders them
  (``seckb.events/1``, ``seckb.project/1``) and :mod:`.notify` delivers them from the outbox;
* :mod:`.vex` exports and imports the decisions as CycloneDX VEX;
* :mod:`.service` is what the CLI and the server call, :mod:`.watch` what runs after a publish.

State lives in :mod:`aggregators.store.projects` and :mod:`aggregators.store.outbox`.
"""
