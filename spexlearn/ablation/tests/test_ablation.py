import numpy as np
import pytest
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.neighbors import KNeighborsRegressor

from spexlearn import ProxySPEXExplainer, SPEXExplainer
from spexlearn.ablation import Ablation, DataAblation, MaskCache
from spexlearn.ablation._base import content_batches
from spexlearn.datasets import make_sparse_function
from spexlearn.masks import row_keys


class Counting(Ablation):
    """A cheap value function over a known spectrum that records every batch."""

    def __init__(self, n=10, fail_after=None, **kwargs):
        super().__init__(progress=False, **kwargs)
        self.function, self.truth = make_sparse_function(n, n_terms=6, max_order=2,
                                                         random_state=0)
        self.component_names = [f"c{i}" for i in range(n)]
        self.batches = []
        self.fail_after = fail_after

    def _fingerprint(self):
        return {"kind": "counting", "n": self.n_components}

    def _evaluate(self, masks):
        if self.fail_after is not None and len(self.batches) >= self.fail_after:
            raise KeyboardInterrupt("simulated crash")
        self.batches.append(masks.copy())
        # A value that depends on the batch it was computed in, like padded LM batches.
        return self.truth.evaluate(masks) + 1e-9 * len(masks)


def _masks(n, m, seed=0):
    return np.random.RandomState(seed).randint(0, 2, size=(m, n))


def test_distinct_masks_are_computed_once():
    value = Counting(batch_size=4)
    masks = _masks(10, 30)
    doubled = np.vstack([masks, masks])
    out = value(doubled)
    np.testing.assert_allclose(out[:30], out[30:])
    computed = np.vstack(value.batches)
    assert len(computed) == len(np.unique(masks, axis=0)) == value.n_evaluated_
    value(masks)  # all remembered
    assert len(np.vstack(value.batches)) == len(computed)


def test_cache_file_resumes_without_requerying_and_identically(tmp_path):
    path = tmp_path / "values.cache"
    masks = _masks(10, 60, seed=1)
    reference = Counting(batch_size=8)(masks)
    crashed = Counting(batch_size=8, cache=path, fail_after=3)
    with pytest.raises(KeyboardInterrupt):
        crashed(masks)
    done = np.vstack(crashed.batches)
    with open(path, "ab") as handle:  # a block cut short by the crash
        handle.write(b"\x05\x00\x00\x00garbage")
    resumed = Counting(batch_size=8, cache=path)
    out = resumed(masks)
    again = {bytes(np.packbits(m)) for m in np.vstack(resumed.batches)}
    assert not again & {bytes(np.packbits(m)) for m in done}
    assert len(done) + len(np.vstack(resumed.batches)) == len(np.unique(masks, axis=0))
    np.testing.assert_array_equal(out, reference)  # bit for bit: same batches
    assert Counting(batch_size=8, cache=path)(masks).tolist() == out.tolist()


def test_cache_of_another_value_function_is_refused(tmp_path):
    path = tmp_path / "values.cache"
    Counting(n=10, cache=path)(_masks(10, 5))
    with pytest.raises(ValueError, match="another value function"):
        Counting(n=12, cache=path)(_masks(12, 5))
    (tmp_path / "bad").write_bytes(b"hello\n")
    with pytest.raises(ValueError, match="not a spexlearn cache"):
        Counting(cache=tmp_path / "bad")(_masks(10, 2))


def test_mask_cache_round_trip(tmp_path):
    cache = MaskCache(tmp_path / "c", 11, "abc")
    assert cache.load() == {}
    masks = _masks(11, 7)
    cache.append(masks, np.arange(7.0))
    cache.append(masks[:2], np.array([9.0, 8.0]))
    records = MaskCache(tmp_path / "c", 11, "abc").load()
    assert records[bytes(np.packbits(masks[0]))] == 9.0 and len(records) == len(
        {bytes(np.packbits(m)) for m in masks}
    )


def test_bad_masks_and_settings():
    value = Counting()
    with pytest.raises(ValueError, match=r"shape \(n_masks, 10\)"):
        value(np.ones((2, 3)))
    with pytest.raises(ValueError, match="0 \\(ablated\\) or 1"):
        value(np.full((1, 10), 2))
    with pytest.raises(ValueError, match="backend='spark' is unknown"):
        Counting(backend="spark")
    assert Counting().__sklearn_clone__() is not None


def test_data_ablation_matches_direct_refits():
    rng = np.random.RandomState(0)
    X, y = rng.normal(size=(12, 3)), rng.normal(size=12)
    value = DataAblation(LinearRegression(), X, y, X[0], progress=False)
    masks = _masks(12, 6)
    masks[0] = 0
    expected = [
        LinearRegression().fit(X[m == 1], y[m == 1]).predict(X[:1])[0] if m.any() else y.mean()
        for m in masks
    ]
    np.testing.assert_allclose(value(masks), expected, atol=1e-10)
    assert value.component_names[3] == "row 3"


def test_data_ablation_groups_and_classifier_outputs():
    rng = np.random.RandomState(1)
    X = rng.normal(size=(40, 2))
    y = (X[:, 0] > 0).astype(int)
    groups = np.repeat(["a", "b", "c", "d"], 10)
    value = DataAblation(LogisticRegression(), X, y, X[0], groups=groups, progress=False,
                         n_jobs=2)
    assert value.output == "predict_proba" and value.component_names == ["a", "b", "c", "d"]
    full = LogisticRegression().fit(X, y).predict_proba(X[:1])[0, value.target_class]
    out = value(np.array([[1, 1, 1, 1], [0, 0, 0, 0]]))
    assert out[0] == pytest.approx(full)
    assert out[1] == pytest.approx(np.mean(y == value.target_class))  # prior of all labels
    one_class = DataAblation(LogisticRegression(), X[:4], np.array([0, 0, 0, 1]), X[0],
                             output="decision_function", progress=False)
    assert one_class(np.array([[1, 1, 1, 0]]))[0] == 0.0  # dummy: no preference


def test_data_ablation_bad_inputs():
    X, y = np.ones((3, 2)), np.ones(3)
    with pytest.raises(ValueError, match="one label per training row"):
        DataAblation(LinearRegression(), X, y[:2], X[0])
    with pytest.raises(ValueError, match="x_test has 3 features"):
        DataAblation(LinearRegression(), X, y, np.ones(3))
    with pytest.raises(ValueError, match="has no predict_proba"):
        DataAblation(LinearRegression(), X, y, X[0], output="predict_proba")
    with pytest.raises(ValueError, match="one label per training row"):
        DataAblation(LinearRegression(), X, y, X[0], groups=[1, 2])


def test_data_attribution_end_to_end():
    """A test point's kNN prediction depends on its two nearest training groups jointly."""
    rng = np.random.RandomState(2)
    X = rng.normal(size=(8, 2)) * 5
    y = np.arange(8.0)
    value = DataAblation(KNeighborsRegressor(n_neighbors=2), X, y, X[0] + 0.01,
                         progress=False)
    exact = SPEXExplainer(value, budget=256, max_order=8).fit()
    assert exact.fit_mode_ == "exhaustive"
    masks = _masks(8, 100, seed=3)
    assert exact.score(masks, value(masks)) > 1 - 1e-12
    proxy = ProxySPEXExplainer(value, budget=128, random_state=0).fit()
    assert proxy.score(masks, value(masks)) > 0.8


class Dying(Counting):
    """Counting whose Ray worker process dies the first time it meets each marked batch."""

    def __init__(self, marker_dir, **kwargs):
        super().__init__(**kwargs)
        self.marker_dir = str(marker_dir)

    def _evaluate(self, masks):
        import os
        from pathlib import Path

        for i in (2, 5):  # two batches kill their worker once each
            marker = Path(self.marker_dir) / f"killed-{i}"
            if len(self.batches) == i and not marker.exists():
                marker.touch()
                os._exit(1)
        return super()._evaluate(masks)


@pytest.mark.slow
def test_ray_backend_matches_local_and_survives_killed_workers(tmp_path):
    ray = pytest.importorskip("ray")
    masks = _masks(10, 120, seed=4)
    local = Counting(batch_size=8)(masks)
    try:
        spread = Counting(batch_size=8, backend="ray", n_workers=2)
        out = spread(masks)
        dying = Dying(tmp_path, batch_size=8, backend="ray", n_workers=2,
                      cache=tmp_path / "values.cache")
        survived = dying(masks)
    finally:
        ray.shutdown()
    np.testing.assert_array_equal(out, local)
    assert spread.n_evaluated_ == len(np.unique(masks, axis=0))
    assert sorted(p.name for p in tmp_path.glob("killed-*")) == ["killed-2", "killed-5"]
    np.testing.assert_array_equal(survived, local)
    assert dying.n_evaluated_ == len(np.unique(masks, axis=0))


def test_overlapping_request_computes_only_new_masks(tmp_path):
    path = tmp_path / "values.cache"
    first, second = _masks(10, 200, seed=3), _masks(10, 300, seed=4)
    Counting(batch_size=8, cache=path)(first)
    known = {bytes(np.packbits(m)) for m in first}
    value = Counting(batch_size=8, cache=path)
    out = value(np.vstack([first, second]))
    computed = {bytes(np.packbits(m)) for m in np.vstack(value.batches)}
    assert not computed & known
    assert computed | known == {bytes(np.packbits(m)) for m in np.vstack([first, second])}
    np.testing.assert_allclose(out, value.truth.evaluate(np.vstack([first, second])),
                               atol=1e-6)


def test_content_batches_survive_removal_of_finished_batches():
    keys = row_keys(_masks(12, 400, seed=5).astype(np.uint8))
    order = np.arange(len(keys))
    batches = content_batches(order, keys, 16)
    sizes = [len(b) for b in batches]
    assert min(sizes[:-1]) >= 8 and 8 <= np.mean(sizes) <= 24
    rng = np.random.default_rng(0)
    finished = set(rng.choice(len(batches), size=len(batches) // 2, replace=False).tolist())
    left = np.concatenate([b for i, b in enumerate(batches) if i not in finished])
    again = content_batches(left, keys, 16)
    expected = [b for i, b in enumerate(batches) if i not in finished]
    assert [b.tolist() for b in again] == [b.tolist() for b in expected]


class Faulty(Counting):
    """Counting, but raising on one batch or returning bad values for some masks."""

    def __init__(self, fault, **kwargs):
        super().__init__(**kwargs)
        self.fault = fault

    def _evaluate(self, masks):
        values = super()._evaluate(masks)
        if self.fault == "raise" and len(self.batches) == 3:
            raise RuntimeError("CUDA out of memory")
        if self.fault == "nan":
            values[(masks[:, 0] == 1) & (masks[:, 1] == 1)] = np.nan
        if self.fault == "shape":
            return values[:-1]
        if self.fault == "text":
            return ["high"] * len(masks)
        return values


def test_a_failing_batch_is_named_and_a_rerun_resumes(tmp_path):
    from spexlearn.ablation import ValueFunctionError

    path, masks = tmp_path / "values.cache", _masks(10, 80, seed=6)
    reference = Counting(batch_size=8)(masks)
    faulty = Faulty("raise", batch_size=8, cache=path)
    with pytest.raises(ValueFunctionError, match=r"failed on batch 3 of \d+: RuntimeError: "
                       r"CUDA out of memory\. All \d+ values computed so far are kept in the "
                       r"cache .*call it again with the same masks to resume"):
        faulty(masks)
    computed = {bytes(np.packbits(m)) for m in np.vstack(faulty.batches[:2])}
    resumed = Counting(batch_size=8, cache=path)
    np.testing.assert_array_equal(resumed(masks), reference)
    again = {bytes(np.packbits(m)) for m in np.vstack(resumed.batches)}
    assert not again & computed


@pytest.mark.parametrize(("fault", "message"), [
    ("nan", r"returned \d+ NaN or infinite values for the masks in rows"),
    ("shape", r"returned shape \(\d+,\) instead of \(\d+,\)"),
    ("text", "returned values that are not numbers"),
])
def test_unusable_values_are_refused_naming_the_rows(fault, message):
    from spexlearn.ablation import ValueFunctionError

    masks = _masks(10, 40, seed=7)
    with pytest.raises(ValueFunctionError, match=message) as info:
        Faulty(fault, batch_size=64)(masks)
    if fault == "nan":
        bad = np.flatnonzero((masks[:, 0] == 1) & (masks[:, 1] == 1))
        listed = str(info.value).split("rows ")[1].split(" (")[0].rstrip(", .")
        first_rows = sorted({int(np.flatnonzero((masks == masks[r]).all(1))[0]) for r in bad})
        assert [int(r) for r in listed.split(", ")] == first_rows[:10]


def test_corrupt_or_old_cache_is_refused_never_mixed_in(tmp_path):
    path = tmp_path / "values.cache"
    value = Counting(batch_size=4, cache=path)
    value(_masks(10, 20, seed=8))
    assert not list(tmp_path.glob(".*.tmp"))  # the header was written whole, then renamed
    data = bytearray(path.read_bytes())
    header_end = data.index(b"\n") + 1
    data[header_end + 12] ^= 0xFF  # a byte inside the first block's records
    corrupt = tmp_path / "corrupt.cache"
    corrupt.write_bytes(bytes(data))
    # The offset counts from the start of the file: the header line included.
    with pytest.raises(ValueError, match=f"corrupt at byte {header_end} "):
        Counting(batch_size=4, cache=corrupt)(_masks(10, 2))
    old = tmp_path / "old.cache"
    old.write_bytes(data[:header_end].replace(b'"spexlearn-cache": 2', b'"spexlearn-cache": 1'))
    with pytest.raises(ValueError, match="has format 1"):
        Counting(cache=old)(_masks(10, 2))


def test_text_cache_key_covers_every_setting_that_changes_the_value():
    from spexlearn.ablation import TextAblation
    from spexlearn.tests._fake_lm import WordLM

    class OtherLM(WordLM):
        name = "other-lm"

    lm = WordLM()
    base = dict(text="not bad at all", template="{text}?", target="positive")
    variants = [
        {}, {"text": "not bad at all!"}, {"unit": "sentence"}, {"template": "{text}!"},
        {"target": "negative"}, {"target": ("positive", "negative")}, {"masking": "token"},
        {"masking": "token", "placeholder": "[gap]"},
    ]
    keys = {TextAblation(lm, **{**base, **change}, progress=False).fingerprint()
            for change in variants}
    keys.add(TextAblation(OtherLM(), **base, progress=False).fingerprint())
    assert len(keys) == len(variants) + 1


def test_the_old_spelling_mask_is_refused_with_the_new_one():
    from spexlearn.ablation import TextAblation
    from spexlearn.tests._fake_lm import WordLM

    with pytest.raises(TypeError, match=r"mask=\.\.\.\) is now spelled masking=\.\.\.: "
                       r"pass masking='token'"):
        TextAblation(WordLM(), "not bad", mask="token")
    with pytest.raises(TypeError, match="unexpected keyword argument 'maskng'"):
        TextAblation(WordLM(), "not bad", maskng="token")
    # Caches written before the rename stay valid: the key is the one computed then
    # (by the code of commit 6f3eb20, with mask="token").
    value = TextAblation(WordLM(), "not bad", masking="token", progress=False)
    assert value.masking == "token" and value.prompt([0, 1]) == "... bad"
    assert value.fingerprint() == "49cf83942f94e62b"


def _block_starts(path, n_components):
    """File offsets of every block of a cache file (the header line included)."""
    data = path.read_bytes()
    position, record = data.index(b"\n") + 1, (n_components + 7) // 8 + 8
    starts = []
    while position < len(data):
        starts.append(position)
        position += 8 + int(np.frombuffer(data, "<u4", 1, position)[0]) * record
    return starts


@pytest.mark.parametrize("where", ["count", "records"])
def test_damage_in_a_middle_block_is_refused_at_its_file_offset(tmp_path, where):
    path = tmp_path / "values.cache"
    masks = _masks(10, 300, seed=9)
    Counting(batch_size=8, cache=path)(masks)
    starts = _block_starts(path, 10)
    assert len(starts) > 10
    data = bytearray(path.read_bytes())
    middle = starts[len(starts) // 2]
    # A flipped high bit in the record count claims a block far beyond the end of the
    # file: it used to read as a cut-short last block, dropping every block after it.
    data[middle + (3 if where == "count" else 8)] ^= 0x80
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=f"corrupt at byte {middle} .*delete it"):
        Counting(batch_size=8, cache=path)(masks[:5])
    assert path.read_bytes() == bytes(data)  # refused before any write


def test_an_unfinished_last_write_of_any_length_is_ignored(tmp_path):
    path = tmp_path / "values.cache"
    masks = _masks(10, 60, seed=10)
    Counting(batch_size=8, cache=path)(masks)
    whole = path.read_bytes()
    last = _block_starts(path, 10)[-1]
    for cut in (last + 1, last + 7, last + 8, last + 20, len(whole) - 1):
        path.write_bytes(whole[:cut])
        resumed = Counting(batch_size=8, cache=path)
        np.testing.assert_allclose(resumed(masks), resumed.truth.evaluate(masks), atol=1e-6)
        assert 0 < resumed.n_evaluated_ <= 16  # only the cut block's masks, computed again
        assert len(MaskCache(path, 10, resumed.fingerprint()).load()) == len(
            np.unique(masks, axis=0))


def test_a_failed_write_states_the_values_on_disk(tmp_path, monkeypatch):
    import errno

    from spexlearn.ablation import ValueFunctionError, _base

    path, masks = tmp_path / "values.cache", _masks(10, 80, seed=11)
    writes = []

    def full_disk(handle, data):  # the third block finds the disk full halfway through
        writes.append(len(data))
        if len(writes) >= 3:
            handle.write(data[: len(data) // 2])
            raise OSError(errno.ENOSPC, "No space left on device")
        handle.write(data)

    monkeypatch.setattr(_base, "_write_all", full_disk)
    value = Counting(batch_size=8, cache=path)
    with pytest.raises(ValueFunctionError) as info:
        value(masks)
    on_disk = MaskCache(path, 10, value.fingerprint()).load()
    message = str(info.value)
    assert "writing them to the cache failed (OSError: [Errno 28] No space left" in message
    assert f"{len(on_disk)} values are on disk in the cache {path}; " in message
    kept_only_here = len(np.vstack(value.batches)) - len(on_disk)
    assert kept_only_here > 0 and f"{kept_only_here} more computed so far" in message
    monkeypatch.undo()
    resumed = Counting(batch_size=8, cache=path)  # the half block was cut off again
    np.testing.assert_allclose(resumed(masks), resumed.truth.evaluate(masks), atol=1e-6)
    assert resumed.n_evaluated_ == len(np.unique(masks, axis=0)) - len(on_disk)


def test_masks_as_a_dataframe_or_fortran_array():
    pd = pytest.importorskip("pandas")
    masks = _masks(10, 30, seed=12)
    expected = Counting(batch_size=8)(masks)
    np.testing.assert_array_equal(Counting(batch_size=8)(np.asfortranarray(masks)), expected)
    frame = pd.DataFrame(masks, columns=[f"c{i}" for i in range(10)])
    np.testing.assert_array_equal(Counting(batch_size=8)(frame), expected)
    np.testing.assert_array_equal(Counting(batch_size=8)(masks.astype(bool)), expected)


def _labelled_data(seed=0):
    """Numeric features and string labels built at run time (not interned), as pandas
    gives them: an object array whose bytes are pointers, different for equal data."""
    pd = pytest.importorskip("pandas")
    rng = np.random.RandomState(seed)
    X = pd.DataFrame(rng.normal(size=(30, 2)), columns=["a", "b"])
    labels = pd.Series(["".join(("cl", "ass-", "yes" if v > 0 else "no")) for v in X["a"]])
    return X, labels


def test_data_ablation_with_string_labels():
    X, y = _labelled_data()
    assert np.asarray(y).dtype == object
    value = DataAblation(LogisticRegression(), X, y, X.iloc[0], progress=False)
    assert isinstance(value.target_class, str) and value.target_class.startswith("class-")
    out = value(np.ones((1, 30), dtype=int))
    full = LogisticRegression().fit(X, y)
    column = list(full.classes_).index(value.target_class)
    assert out[0] == pytest.approx(full.predict_proba(X.iloc[:1])[0, column])
    chosen = DataAblation(LogisticRegression(), X, y, X.iloc[0], target_class="class-no",
                          progress=False)
    assert chosen(np.ones((1, 30), dtype=int))[0] == pytest.approx(
        full.predict_proba(X.iloc[:1])[0, list(full.classes_).index("class-no")])


def test_data_ablation_cache_key_depends_on_content_only(tmp_path):
    def build(seed=0, **kwargs):
        X, y = _labelled_data(seed)
        return DataAblation(LogisticRegression(C=0.5), X, y, X.iloc[0],
                            target_class="class-yes", progress=False, **kwargs)

    assert build().fingerprint() == build().fingerprint()  # fresh, equal objects
    assert build().fingerprint() != build(seed=1).fingerprint()
    masks = _masks(30, 6, seed=13)
    build(cache=tmp_path / "data.cache")(masks)
    rerun = build(cache=tmp_path / "data.cache")
    rerun(masks)  # used to be refused: "written for another value function"
    assert rerun.n_evaluated_ == 0


def _chat_lm(**settings):
    """The fake LM with a language model's chat settings (and files, if given)."""
    from types import SimpleNamespace

    from spexlearn.tests._fake_lm import WordLM

    lm = WordLM()
    lm.chat = settings.get("chat", True)
    lm.system_prompt = settings.get("system_prompt")
    lm.tokenizer = SimpleNamespace(chat_template=settings.get("template", "<u>{{ m }}</u>"))
    lm._source = settings.get("source")
    return lm


def test_text_cache_key_covers_the_chat_formatting(tmp_path):
    from spexlearn.ablation import TextAblation

    base = dict(text="not bad at all", target="positive", progress=False)
    variants = [{}, {"system_prompt": "Be terse."}, {"system_prompt": "Be kind."},
                {"chat": False}, {"template": "<user>{{ m }}</user>"}]
    keys = {TextAblation(_chat_lm(**change), **base).fingerprint() for change in variants}
    assert len(keys) == len(variants)
    path, masks = tmp_path / "values.cache", _masks(4, 5)
    TextAblation(_chat_lm(system_prompt="Be terse."), cache=path, **base)(masks)
    with pytest.raises(ValueError, match="written for another value function"):
        TextAblation(_chat_lm(system_prompt="Be kind."), cache=path, **base)(masks)


def test_text_cache_key_covers_new_weights_at_the_same_path(tmp_path):
    import os

    from spexlearn.ablation import TextAblation

    rng = np.random.default_rng(0)
    weights = tmp_path / "model" / "model.safetensors"
    weights.parent.mkdir()
    (weights.parent / "config.json").write_text('{"model_type": "llama"}')
    weights.write_bytes(rng.bytes(3 << 20))
    stamp = weights.stat().st_mtime_ns

    def key():
        lm = _chat_lm(source=(str(weights.parent), None))
        return TextAblation(lm, "not bad at all", target="positive", progress=False).fingerprint()

    first = key()
    assert key() == first
    weights.write_bytes(rng.bytes(3 << 20))  # a new fine-tune: same size, same time stamp
    os.utime(weights, ns=(stamp, stamp))
    assert key() != first


def test_head_cache_key_covers_the_weights_in_memory_and_the_system_prompt():
    from spexlearn.ablation import HeadAblation
    from spexlearn.tests._fake_lm import tiny_llama

    model = tiny_llama()
    torch = pytest.importorskip("torch")

    def key(**settings):
        lm = _chat_lm(**settings)
        lm.model = model
        return HeadAblation(lm, ["the capital of france"], ["paris"], heads=[(0, 0), (1, 1)],
                            progress=False).fingerprint()

    first = key()
    assert key(system_prompt="Answer in French.") != first
    weight = model.model.layers[1].self_attn.o_proj.weight
    with torch.no_grad():
        weight.mul_(2.0)
        assert key() != first  # weights edited in memory, nothing on disk
        weight.div_(2.0)
    assert key() == first
