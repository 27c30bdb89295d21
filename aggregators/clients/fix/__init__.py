"""``seckb fix``: the smallest change to a requirements file or a uv.lock that leaves no release
the policy blocks, resolved by uv through seckb's index, and proved to resolve.

* :mod:`.inputs` reads the pins (and the direct requirements they came from);
* :mod:`.strategies` decides (``in-place``, ``relax``), asking uv (:mod:`.uv`);
* :mod:`.service` runs it through a private loopback index over the snapshot;
* :mod:`.plan` is what comes out (``seckb.fix/1``); :mod:`.rewrite` and :mod:`.write` apply it.
"""
