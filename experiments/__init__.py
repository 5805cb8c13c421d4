"""experiments: the top floor of attnverify -- every study, with the empirical claims it backs.

Each subpackage is one study (``attnverify experiment NAME``). It may use any library package
(``proofs_numeric``, ``bounds``, ``geometry``, ``attention``); nothing in the library imports it.
Its modules are imported by :func:`proofs_numeric.discover`, which is how the registry learns of
the experiments, plots and empirical claims they register.
"""
