"""ClassifierAblation on a tiny random BERT classifier built here (no download): values
equal the model's own scores of the rebuilt texts, and every mask reproduces the exact
interactions of the 2^n values."""

import numpy as np
import pytest

from spexlearn import ProxySPEXExplainer
from spexlearn.masks import every_mask

TEXT = "the plot was not bad at all"


@pytest.fixture(scope="module")
def classifier(tmp_path_factory):
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    pytest.importorskip("tokenizers")
    from spexlearn.datasets import make_random_classifier

    return make_random_classifier(tmp_path_factory.mktemp("classifier"), TEXT.split())


def _scores(model, tokenizer, texts, target):
    import torch

    with torch.inference_mode():
        logits = [model(**tokenizer(t, return_tensors="pt")).logits[0] for t in texts]
    return np.array([torch.log_softmax(row, dim=-1)[target].item() for row in logits])


def test_values_are_the_models_scores_of_the_rebuilt_texts(classifier):
    from spexlearn.ablation import ClassifierAblation
    from spexlearn.lm import load_classifier

    model, tokenizer = load_classifier(classifier)
    value = ClassifierAblation(model, tokenizer, TEXT, target="positive", progress=False)
    assert value.component_names == TEXT.split() and value.target_ == 1
    masks = every_mask(7)[::9]
    texts = [" ".join(w for w, k in zip(TEXT.split(), m) if k) for m in masks]
    # Batched and padded, equal to one text at a time.
    np.testing.assert_allclose(value(masks), _scores(model, tokenizer, texts, 1), atol=1e-5)
    token = ClassifierAblation(model, tokenizer, TEXT, masking="token", progress=False)
    assert token.placeholder == "[MASK]" and token.target_ in (0, 1)
    assert "log_prob of class" in value.describe()["value"]


def test_every_mask_gives_the_exact_interactions(classifier):
    from spexlearn.ablation import ClassifierAblation
    from spexlearn.lm import load_classifier

    model, tokenizer = load_classifier(classifier)
    value = ClassifierAblation(model, tokenizer, TEXT, score="logit", progress=False)
    explainer = ProxySPEXExplainer(value, budget=128, max_order=7, random_state=0).fit()
    masks = every_mask(7)
    np.testing.assert_allclose(explainer.predict(masks), value(masks), atol=1e-9)
    # The Möbius values are the brute-force inclusion-exclusion of the 2^n values.
    values = dict(zip(map(tuple, masks), value(masks)))
    pair = (3, 4)  # 'not' x 'bad'
    brute = sum((-1) ** (2 - sum(k)) * values[tuple(int(i in s) for i in range(7))]
                for k, s in (((1, 1), {3, 4}), ((1, 0), {3}), ((0, 1), {4}), ((0, 0), set())))
    assert explainer.interactions(index="mobius")[pair] == pytest.approx(brute, abs=1e-9)


def test_bad_settings_are_refused(classifier):
    from spexlearn.ablation import ClassifierAblation
    from spexlearn.lm import load_classifier

    model, tokenizer = load_classifier(classifier)
    with pytest.raises(ValueError, match="'neutral' is not a label"):
        ClassifierAblation(model, tokenizer, TEXT, target="neutral")
    with pytest.raises(ValueError, match="score='prob' is unknown"):
        ClassifierAblation(model, tokenizer, TEXT, score="prob")
    with pytest.raises(ValueError, match="more than the classifier's 64"):
        ClassifierAblation(model, tokenizer, " ".join([TEXT] * 20))
    with pytest.raises(FileNotFoundError):
        load_classifier(classifier / "missing")
