"""Array annotations on the public API: every array argument of a public function of ``attnverify.bounds`` and
of the model interface is annotated ``jax.Array`` or ``jax.typing.ArrayLike`` (never ``Any`` or nothing), and
the package ships ``py.typed``."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

import attnverify
from attnverify import bounds
from attnverify.attention import models
from attnverify.attention.models import interface

ARRAY_ARGS = {"ids", "logits", "k", "kept", "p", "q", "cuts", "blocks", "t", "mu", "sigma", "n", "u", "eps", "values", "C",
              "cell", "upper", "keys", "query", "key_mask", "x", "input_ids", "attention_mask", "probs", "v"}
ARRAY_TYPES = ("ArrayLike", "jax.Array", "Array", "np.ndarray")


def _public_functions(module, names):
    for name in names:
        obj = getattr(module, name)
        if inspect.isfunction(obj) and name != "mst_partition_bound":  # a NotImplementedError stub (*args)
            yield f"{module.__name__}.{name}", obj


@pytest.mark.parametrize("module,names", [(bounds, bounds.__all__), (interface, ["forward", "encode"]),
                                          (models, ["bert_forward", "mpnet_forward", "encoder_forward", "gemma_forward"])],
                         ids=["bounds", "models.interface", "models"])
def test_array_arguments_are_annotated(module, names):
    bad = []
    checked = 0
    for qual, fn in _public_functions(module, names):
        for pname, par in inspect.signature(fn).parameters.items():
            if pname in ARRAY_ARGS and pname != "n" or (pname == "n" and "keps" in qual):
                checked += 1
                ann = str(par.annotation)
                if not any(t in ann for t in ARRAY_TYPES) and ann not in ("int", "float"):
                    bad.append(f"{qual}({pname}: {ann})")
    assert checked >= 2 and not bad, bad


def test_py_typed_ships():
    assert (Path(attnverify.__file__).parent / "py.typed").is_file()
