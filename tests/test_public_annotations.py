"""Array annotations on the public API: every array argument of a public function (or class constructor) of
``attnverify.bounds``, ``attnverify.geometry`` and of the model interface is annotated ``jax.Array`` or
``jax.typing.ArrayLike`` (never ``Any`` or nothing), every function argument (``*_fn``) a ``Callable``, and
the package ships ``py.typed``."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

import attnverify
from attnverify import bounds, geometry
from attnverify.attention import models
from attnverify.attention.models import interface

ARRAY_ARGS = {"ids", "logits", "k", "kept", "p", "q", "cuts", "blocks", "t", "mu", "sigma", "n", "u", "eps", "values", "C",
              "cell", "upper", "keys", "query", "key_mask", "x", "input_ids", "attention_mask", "probs", "v"}
#: array arguments of ``attnverify.geometry`` (points, tangent vectors, chart coordinates, chart data, metric
#: ``sigma``); its ``p``/``params`` are dicts of arrays and ``n`` a grid size, so it has its own set
GEOMETRY_ARRAY_ARGS = {"theta", "points", "u", "v", "sigma", "t", "z", "x", "values", "w", "c", "wg", "bg"}
ARRAY_TYPES = ("ArrayLike", "jax.Array", "Array", "np.ndarray")
CALLABLE_TYPES = ("Callable", "MeanFn", "MetricFn")


def _public_functions(module, names):
    for name in names:
        obj = getattr(module, name)
        if inspect.isclass(obj) and module is geometry:  # PullbackMetric(mu_fn, sigma)
            yield f"{module.__name__}.{name}", obj
        elif inspect.isfunction(obj) and name != "mst_partition_bound":  # a NotImplementedError stub (*args)
            yield f"{module.__name__}.{name}", obj


@pytest.mark.parametrize("module,names,array_args",
                         [(bounds, bounds.__all__, ARRAY_ARGS), (interface, ["forward", "encode"], ARRAY_ARGS),
                          (models, ["bert_forward", "mpnet_forward", "encoder_forward", "gemma_forward"], ARRAY_ARGS),
                          (geometry, geometry.__all__, GEOMETRY_ARRAY_ARGS)],
                         ids=["bounds", "models.interface", "models", "geometry"])
def test_array_arguments_are_annotated(module, names, array_args):
    bad = []
    checked = 0
    for qual, fn in _public_functions(module, names):
        for pname, par in inspect.signature(fn).parameters.items():
            if pname in array_args and pname != "n" or (pname == "n" and "keps" in qual):
                checked += 1
                ann = str(par.annotation)
                if not any(t in ann for t in ARRAY_TYPES) and ann not in ("int", "float"):
                    bad.append(f"{qual}({pname}: {ann})")
            elif pname.endswith("_fn") or pname == "fn" or pname.startswith("metric_fn"):
                checked += 1
                if not any(t in str(par.annotation) for t in CALLABLE_TYPES):
                    bad.append(f"{qual}({pname}: {par.annotation})")
    assert checked >= 2 and not bad, bad


def test_py_typed_ships():
    assert (Path(attnverify.__file__).parent / "py.typed").is_file()
