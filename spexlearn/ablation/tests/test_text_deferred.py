"""A TextAblation whose model loads only when a value is missing from its cache."""

import os

import numpy as np
import pytest

from spexlearn.ablation import RecordMismatchError, TextAblation
from spexlearn.lm import model_source, source_key
from spexlearn.tests._fake_lm import Loader, StableLM

TEXT = "not bad and wonderful"
SETTINGS = {"template": "{text} ?", "target": ("positive", "negative"), "progress": False}


def test_cached_values_need_no_model_and_a_missing_one_loads_it_once(tmp_path):
    masks = np.array([[1, 1, 1, 1], [0, 1, 1, 1], [1, 1, 0, 0]])
    first = TextAblation(StableLM(), TEXT, cache=tmp_path / "c", **SETTINGS)
    expected = first(masks)
    load = Loader(StableLM())
    value = TextAblation.deferred(load, first.record(), TEXT, cache=tmp_path / "c",
                                  **SETTINGS)
    assert value.fingerprint() == first.fingerprint()
    assert value.target_text_ == ("positive", "negative") and value.lm.name == "word-lm"
    np.testing.assert_array_equal(value(masks[::-1]), expected[::-1])
    assert load.calls == 0
    more = np.array([[0, 0, 0, 0], [1, 0, 1, 1]])
    np.testing.assert_array_equal(value(np.vstack([masks, more])),
                                  first(np.vstack([masks, more])))
    assert load.calls == 1 and value.lm is load.model
    value(np.array([[0, 1, 0, 1]]))
    assert load.calls == 1


class OtherLM(StableLM):
    name = "other-lm"


def test_a_record_of_another_model_is_refused_once_it_loads(tmp_path):
    masks = np.array([[1, 1, 1, 1], [0, 1, 1, 1]])
    first = TextAblation(StableLM(), TEXT, cache=tmp_path / "c", **SETTINGS)
    first(masks)
    value = TextAblation.deferred(Loader(OtherLM()), first.record(), TEXT,
                                  cache=tmp_path / "c", **SETTINGS)
    with pytest.raises(RecordMismatchError, match="another model's"):
        value(np.array([[0, 0, 0, 0]]))
    # Nothing read under the record is served any more.
    assert value._memory == {}
    assert value.fingerprint() == TextAblation(OtherLM(), TEXT, **SETTINGS).fingerprint()


def test_the_source_key_sees_a_files_content_not_only_its_name_size_and_time(tmp_path):
    path = tmp_path / "model.gguf"
    path.write_bytes(b"a" * 100_000)
    folder, name = model_source(path)
    key = source_key(folder, name)
    assert source_key(folder, name) == key
    assert {"spexlearn", "torch", "transformers", "tokenizers"} <= set(key["versions"])
    stat = path.stat()
    path.write_bytes(b"a" * 50_000 + b"b" + b"a" * 49_999)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert source_key(folder, name)["files"] != key["files"]
    assert model_source(tmp_path) == (str(tmp_path), None)
    with pytest.raises(FileNotFoundError):
        model_source(tmp_path / "missing")
