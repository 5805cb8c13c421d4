"""experiments: the top floor of attnverify -- every study, with the empirical claims it backs.

Each subpackage is one study (``attnverify experiment NAME``). It may use any library package
(``proofs_numeric``, ``bounds``, ``geometry``, ``attention``); nothing in the library imports it.
Its modules are imported by :func:`proofs_numeric.discover`, which is how the registry learns of
the experiments, plots and empirical claims they register.
"""

from pathlib import Path as _Path

from attnverify.proofs_numeric.evidence import use_manifest as _use_manifest

#: the pinned evidence every empirical claim decides from (:mod:`proofs_numeric.evidence`); change it
#: only with ``attnverify promote`` (docs/verdicts.md, "Where the evidence comes from")
EVIDENCE_MANIFEST = _Path(__file__).resolve().with_name("evidence_manifest.json")
_use_manifest(EVIDENCE_MANIFEST)

from . import evidence_schemas as _evidence_schemas  # noqa: E402,F401  (registers the validators the pins name)
