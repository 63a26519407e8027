"""The application layer: the command line (:mod:`~coinfer.app.cli`), the interactive explorer
(:mod:`~coinfer.app.explorer`) and the Sphinx extension of the book (:mod:`~coinfer.app.sphinxext`).

Nothing in the package imports this layer.
"""
