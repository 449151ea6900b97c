"""Value functions say what they are: the ablations' and the synthetic functions' repr."""

import numpy as np
from sklearn.linear_model import Ridge
from sklearn.neighbors import KNeighborsClassifier

from spexlearn import ProxySPEXExplainer
from spexlearn.ablation import Ablation, DataAblation, TextAblation
from spexlearn.datasets import make_sparse_function, make_unanimity_function
from spexlearn.tests._fake_lm import WordLM

TEXT = "the film was not bad and the end was wonderful"


def test_text_ablation_names_its_components_and_settings():
    value = TextAblation(WordLM(), TEXT, progress=False)
    text = repr(value)
    assert text.startswith("TextAblation(n_components=10, unit='word', ")
    assert "masking='remove'" in text and "cache=None" in text
    assert "progress=False" in text  # a shared setting away from its default
    assert "batch_size" not in text and "backend" not in text  # shared, at their defaults
    assert "object at 0x" not in repr(ProxySPEXExplainer(value))


def test_long_settings_are_shortened_and_a_cache_is_named(tmp_path):
    template = "Review: {text}\nIs the review positive or negative? " + "Answer in one word. " * 5
    cache = tmp_path / "values.cache"
    value = TextAblation(WordLM(), "Not bad. The end was wonderful.", unit="sentence",
                         template=template, cache=cache, batch_size=4, progress=False)
    text = repr(value)
    assert text.startswith("TextAblation(n_components=2, unit='sentence', template='Review:")
    assert "..." in text and len(text) < len(template) + 200
    assert f"cache={cache!r}" in text and "batch_size=4" in text


def test_data_ablation_names_its_estimator_and_output():
    rng = np.random.RandomState(0)
    X, y = rng.randn(10, 3), rng.randn(10)
    assert repr(DataAblation(Ridge(alpha=2.0), X, y, X[0], progress=False)) == (
        "DataAblation(n_components=10, estimator=Ridge(alpha=2.0), output='predict', "
        "cache=None, progress=False)")
    groups = np.repeat(np.arange(5), 2)
    value = DataAblation(KNeighborsClassifier(3), X, y > 0, X[0], groups=groups, repeats=2)
    assert repr(value) == (
        "DataAblation(n_components=5, estimator=KNeighborsClassifier(n_neighbors=3), "
        f"output='predict_proba', target_class={value.target_class!r}, cache=None, "
        "repeats=2)")


def test_head_ablation_names_its_prompts():
    from spexlearn.ablation import HeadAblation
    from spexlearn.tests._fake_lm import tiny_llama

    lm = WordLM()
    lm.model = tiny_llama()
    value = HeadAblation(lm, ["the capital of france", "the capital of italy"],
                         ["paris", "rome"], progress=False)
    assert repr(value) == "HeadAblation(n_components=4, n_prompts=2, cache=None, progress=False)"


class _Sum(Ablation):
    """A user's value function: positional settings only."""

    def __init__(self, n, weight=1.0):
        super().__init__(progress=True)
        self.weight = weight
        self.component_names = [f"c{i}" for i in range(n)]

    def _evaluate(self, masks):
        return self.weight * masks.sum(axis=1)


class _Weighted(_Sum):
    def _repr_settings(self):
        return {"weight": self.weight}


def test_any_subclass_gets_a_repr_and_may_choose_its_settings():
    assert repr(_Sum(3)) == "_Sum(n_components=3, cache=None)"
    assert repr(_Weighted(2, weight=0.5)) == "_Weighted(n_components=2, weight=0.5, cache=None)"
    assert repr(Ablation()) == "Ablation(cache=None)"  # no components yet: still a repr


def test_synthetic_functions_say_what_they_are():
    f, truth = make_sparse_function(12, n_terms=5, max_order=2, noise=0.1, random_state=0)
    assert repr(f) == "SparseFunction(n_components=12, n_terms=5, noise=0.1)"
    g, truth = make_unanimity_function(10, n_terms=3, max_order=2, random_state=0)
    assert repr(g) == f"SparseFunction(n_components=10, n_terms={len(truth)}, noise=0.0)"
    assert "object at 0x" not in repr(ProxySPEXExplainer(f))
