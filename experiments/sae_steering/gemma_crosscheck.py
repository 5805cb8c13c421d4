r"""Cross-check of the Gemma run's best configurations (issue 13 §2: fastText-lite checked with lingua).

For each target, the best (layer, $\kappa>0$) of a Gemma results file is regenerated from the cached
activations and SAEs (:func:`~experiments.sae_steering.gemma_track.build_saes`), with the unsteered
model and the rate-matched random feature at the same (layer, $\kappa$), on the same prompts and
sampling keys. Each continuation gets: the fastText-lite label (the run's success measure), the
lingua label, and the share of its non-space characters that are CJK ideographs or kana (a
script-level check: fastText may label punctuation runs such as "———" as Chinese). Written to
``experiments/sae_steering/gemma_crosscheck.json``; the per-prompt fastText agreement with the results
file is recorded (batch composition differs, so float rounding may change a sampled token).

``python -m attnverify.experiments.sae_steering.gemma_crosscheck``
"""

from __future__ import annotations

import json
import time
import unicodedata
from pathlib import Path
from typing import Any

import numpy as np

from attnverify.attention.sae.langid import detect_language, detect_language_lingua, wilson_interval
from attnverify.attention.sae.steering import make_steer, no_steer

from .gemma_track import GEMMA, _generate, _prompts, build_saes
from .results import SNAPSHOT
from .sweep import best_config

__all__ = ["cjk_share", "crosscheck"]

OUT = Path(__file__).resolve().parent / "gemma_crosscheck.json"


def cjk_share(text: str) -> float:
    """Share of the non-space characters of ``text`` that are CJK ideographs, kana or CJK punctuation."""
    chars = [c for c in text if not c.isspace()]
    if not chars:
        return 0.0
    cjk = sum(unicodedata.name(c, "").startswith(("CJK", "HIRAGANA", "KATAKANA", "IDEOGRAPHIC")) for c in chars)
    return cjk / len(chars)


def _summary(texts: list[str], target: str) -> dict[str, Any]:
    ft, li = detect_language(texts), detect_language_lingua(texts)
    ok_ft = [a == target and len(t.strip()) >= 32 for a, t in zip(ft, texts)]
    ok_li = [a == target and len(t.strip()) >= 32 for a, t in zip(li, texts)]
    n = len(texts)
    return {"texts": texts, "fasttext": ft, "lingua": li, "cjk_share": [cjk_share(t) for t in texts],
            "success_fasttext": float(np.mean(ok_ft)), "ci_fasttext": wilson_interval(sum(ok_ft), n),
            "success_lingua": float(np.mean(ok_li)), "ci_lingua": wilson_interval(sum(ok_li), n),
            "both": float(np.mean([a and b for a, b in zip(ok_ft, ok_li)]))}


def crosscheck(model, results: dict[str, Any], seed: int = 0) -> dict[str, Any]:
    """Regenerate and relabel the best configuration of each target (module docstring)."""
    s = dict(GEMMA, **results["settings"])
    layers = tuple(s["layers"])
    pairs, _, _, _, _, saes, _, _ = build_saes(model, s, seed)
    prompts = _prompts(model, pairs, s["n_select"], s["prompts"])
    configs, where = [no_steer(model.config.hidden_size)], {}
    for t in results["targets"]:
        li, ki = best_config(results, t)
        f, kap = results["features"][t][li], results["kappas"][ki]
        where[t] = (li, ki, len(configs))
        configs += [make_steer(saes[layers.index(f["layer"])], f["layer"], f["j"], kap * f["mu_plus"]),
                    make_steer(saes[layers.index(f["layer"])], f["layer"], f["random_j"], kap * f["random_mu_plus"])]
    texts = _generate(model, prompts, configs, None, s, seed)
    out: dict[str, Any] = {"results_sha256": results.get("_sha256"), "prompts": [p for p, _ in prompts]}
    for t, (li, ki, c) in where.items():
        steered = _summary(texts[c], t)
        agree = float(np.mean(np.asarray([a == t and len(x.strip()) >= 32 for a, x in zip(steered["fasttext"], texts[c])])
                              == np.asarray(results["success"][t][li][ki], bool)))
        out[t] = {"layer": results["layers"][li], "kappa": results["kappas"][ki], "steered": steered,
                  "random": _summary(texts[c + 1], t), "unsteered": _summary(texts[0], t), "agreement_with_results": agree}
    return out


def main() -> None:
    import hashlib

    from attnverify.attention.models import load_gemma
    from attnverify.proofs_numeric import atomic_write_json

    t0 = time.perf_counter()
    results = json.loads(SNAPSHOT.read_text())
    results["_sha256"] = hashlib.sha256(SNAPSHOT.read_bytes()).hexdigest()
    out = crosscheck(load_gemma(), results)
    out["seconds"] = time.perf_counter() - t0
    atomic_write_json(OUT, out)
    for t in results["targets"]:
        r = out[t]
        print(t, "layer", r["layer"], "kappa", r["kappa"], {k: (r[k]["success_fasttext"], r[k]["success_lingua"], r[k]["both"]) for k in ("steered", "random", "unsteered")},
              "agreement", r["agreement_with_results"], "mean CJK share (steered)", float(np.mean(r["steered"]["cjk_share"])))


if __name__ == "__main__":
    main()
