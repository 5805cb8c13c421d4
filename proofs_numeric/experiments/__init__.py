"""Experiments (``attnverify experiment NAME``) and the empirical claims they back.

Modules here are imported by :func:`proofs_numeric.discover`; each registers its experiment,
plots and empirical claims with the decorators of :mod:`proofs_numeric`.
"""
