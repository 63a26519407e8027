"""The real-model layer: everything that imports torch or transformers.

Offline model loading (:mod:`~coinfer.real.models`), real text (:mod:`~coinfer.real.corpus`),
pruning (:mod:`~coinfer.real.pruning`), distortion measurement (:mod:`~coinfer.real.distortion`),
split execution and quality metrics (:mod:`~coinfer.real.split_execution`), sparse kernels
(:mod:`~coinfer.real.kernels`), profiles from configs and the FLOP counter
(:mod:`~coinfer.real.profiles`), weight samples (:mod:`~coinfer.real.weights`) and small fully
connected networks (:mod:`~coinfer.real.mlp`). Install with the ``models`` extra.

This package's ``__init__`` imports nothing: import the submodule you need.
"""
