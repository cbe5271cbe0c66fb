"""Hypothesis profiles: ``dev`` (default) and ``ci`` (derandomized, no deadline).

``make test`` and ``.ci/run`` select ``ci`` through HYPOTHESIS_PROFILE.
"""

import os

from hypothesis import settings

settings.register_profile("dev", max_examples=100)
settings.register_profile("ci", max_examples=200, derandomize=True, deadline=None, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))
