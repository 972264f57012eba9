"""Hypothesis profiles of the suite.

``default``: every property test draws the examples derived from its own source
(``derandomize``), so README's test command tests the same examples on every
machine. The strategies do not depend on which optional packages are installed
(see ``FLOATS`` in test_fuzz.py), so that holds across environments too.

``random``: a seeded random draw, not stored in a database::

    python -m pytest --hypothesis-profile=random --hypothesis-seed=3

draws another set of examples per seed (``.ci/run`` does not; the seeds 0-9 were
run for issue 22). Per-test settings (``max_examples``, ``deadline``, ...) apply in
both profiles.
"""

from __future__ import annotations

try:
    from hypothesis import settings
except ImportError:  # pragma: no cover - the property tests skip themselves
    settings = None

if settings is not None:
    settings.register_profile("default", derandomize=True)
    settings.register_profile("random", derandomize=False, database=None)
    # --hypothesis-profile, when given, is loaded after this file by hypothesis' pytest plugin.
    settings.load_profile("default")
