"""Recipes: what trains and compresses a network, above :mod:`refquant.nn` and :mod:`refquant.prune`.

The math below this floor knows no training loop; the recipes put it together:

* :mod:`refquant.recipes.ptq` -- calibration, post-training quantization and
  the QAT set-up of the MLP;
* :mod:`refquant.recipes.pruning` -- gradual magnitude pruning, iterative
  magnitude pruning with rewinding, N:M and Taylor structured pruning, driven
  on the MLP;
* :mod:`refquant.recipes.demo` -- the pipeline behind ``refquant demo``.

Import from the modules; this package re-exports nothing.
"""
