"""The hostile-input layer: every public function fed the hostile set (issue 8, section 2).

``registry_*.py`` describe each public callable (a valid baseline call, its
arguments' kinds and its documented contract), ``harness.py`` generates the
cases and judges one guarded call, ``test_hostile.py`` runs them under
pytest and ``report.py`` tallies them by failure class
(``python -m tests.hostile.report``).
"""
