"""One chunk per standard-library file (issue 27): independent units for the MiniLM studies."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from attnverify import attention
from attnverify.attention.data import file_chunks


@pytest.fixture(scope="module")
def model():
    return attention.load_bert()


def test_file_chunks_one_per_file_deterministic(model):
    a, b = file_chunks(model, 64, 6), file_chunks(model, 64, 6)
    assert a.input_ids.shape == (6, 64) and a.input_ids.dtype == np.int32
    assert len(set(a.files)) == 6 and a.files == tuple(sorted(a.files)) and a.eligible >= 6
    assert np.array_equal(a.input_ids, b.input_ids)
    assert (a.input_ids[:, 0] == model.cls_id).all() and (a.input_ids[:, -1] == model.sep_id).all()
    # chunks are file prefixes: a longer chunk of the same file starts with the shorter one's tokens
    c = file_chunks(model, 32, 6)
    same = [i for i, f in enumerate(c.files) if f in a.files]
    for i in same:
        j = a.files.index(c.files[i])
        assert np.array_equal(c.input_ids[i, 1:-1], a.input_ids[j, 1:31])


def test_file_chunks_bad_arguments(model):
    with pytest.raises(ValueError, match="n_tokens"):
        file_chunks(model, 2, 4)
    with pytest.raises(ValueError, match="count"):
        file_chunks(model, 64, 0)
    with pytest.raises(ValueError, match="files have"):
        file_chunks(model, 512, 10_000)


@pytest.mark.slow
@pytest.mark.parametrize("name, out", [("kv-eviction-files", "files_minilm.json"), ("delta-files", "delta_files.json"),
                                       ("gating-untrained", "results.json")])
def test_issue27_experiments_quick(name, out, tmp_path: Path):
    from attnverify.proofs_numeric.cli import main

    assert main(["experiment", name, "--quick", "--out", str(tmp_path)]) == 0
    data = json.loads((tmp_path / out).read_text())
    assert data["quick"] is True
