"""ImageAblation on a synthetic scorer whose interactions are known."""

import numpy as np
import pytest

from spexlearn import ProxySPEXExplainer
from spexlearn.ablation import ImageAblation


def _scorer(images):
    # Patch r0c0 (rows 0-3, cols 0-3) and r1c1 (rows 4-7, cols 4-7) matter together;
    # r0c1 alone. On a zero baseline a kept patch has mean 1, an ablated one 0.
    a = images[:, :4, :4].mean(axis=(1, 2))
    b = images[:, 4:, 4:].mean(axis=(1, 2))
    c = images[:, :4, 4:].mean(axis=(1, 2))
    return 3.0 * a * b + 0.5 * c


def test_known_interactions_are_recovered_exactly():
    value = ImageAblation(_scorer, np.ones((8, 8)), grid=(2, 2), baseline=0.0,
                          progress=False)
    assert value.component_names == ["r0c0", "r0c1", "r1c0", "r1c1"]
    explainer = ProxySPEXExplainer(value, budget=16, random_state=0).fit()
    found = {s: v for s, v in explainer.interactions_.terms().items() if abs(v) > 1e-9}
    assert found == pytest.approx({(0, 3): 3.0, (1,): 0.5})


def test_patches_cover_the_image_and_the_baselines():
    image = np.arange(7 * 9 * 3, dtype=float).reshape(7, 9, 3)  # sides not divisible
    value = ImageAblation(lambda x: x.mean(axis=(1, 2, 3)), image, grid=(3, 4),
                          progress=False)
    covered = np.zeros((7, 9), int)
    for rows, cols in value.patches:
        covered[rows, cols] += 1
    assert (covered == 1).all() and len(value.patches) == 12
    mean = value.images(np.zeros((1, 12)))[0]
    np.testing.assert_allclose(mean, np.broadcast_to(image.mean(axis=(0, 1)), image.shape))
    assert (value.images(np.ones((1, 12)))[0] == image).all()
    blurred = ImageAblation(lambda x: x.sum(axis=(1, 2, 3)), image, grid=(3, 4),
                            baseline="blur", progress=False).images(np.zeros((1, 12)))[0]
    # A box blur keeps each channel's mean away from the edges and smooths the steps.
    assert abs(blurred[3, 4] - image[2:5, 3:6].mean(axis=(0, 1))).max() < 1e-9
    colour = ImageAblation(lambda x: x.sum(axis=(1, 2, 3)), image, grid=(3, 4),
                           baseline=[1.0, 2.0, 3.0], progress=False)
    assert (colour.images(np.zeros((1, 12)))[0] == [1.0, 2.0, 3.0]).all()
    with pytest.raises(ValueError, match="does not fit"):
        ImageAblation(_scorer, np.ones((4, 4)), grid=(5, 1))
    with pytest.raises(ValueError, match="baseline='noise' is unknown"):
        ImageAblation(_scorer, np.ones((4, 4)), baseline="noise")


def test_the_image_plot_shades_patches_and_links_pairs(tmp_path):
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    from spexlearn.plot import plot_image

    value = ImageAblation(_scorer, np.ones((8, 8)), grid=(2, 2), baseline=0.0,
                          progress=False)
    explainer = ProxySPEXExplainer(value, budget=16, random_state=0).fit()
    ax = plot_image(explainer, value)
    assert len(ax.patches) == 4 and len(ax.lines) == 1  # four patches, one pair
    ax.figure.savefig(tmp_path / "image.png")


def test_the_cache_key_tells_scorers_apart():
    image = np.ones((8, 8))
    keys = {ImageAblation(scorer, image, grid=(2, 2), progress=False).fingerprint()
            for scorer in (lambda x: x.sum(axis=(1, 2)), lambda x: 2 * x.sum(axis=(1, 2)))}
    assert len(keys) == 2  # both are "<lambda>" by name


def test_the_report_of_an_image_shows_the_picture_first(tmp_path):
    pytest.importorskip("matplotlib")
    pytest.importorskip("networkx")
    import matplotlib

    matplotlib.use("Agg")
    from spexlearn.report import write_report

    value = ImageAblation(_scorer, np.ones((8, 8)), grid=(2, 2), baseline=0.0,
                          progress=False)
    explainer = ProxySPEXExplainer(value, budget=16, random_state=0).fit()
    page = write_report(tmp_path / "r.html", explainer, value).read_text(encoding="utf-8")
    images = page.split('<img alt="')[1:]
    assert len(images) == 3 and images[0].startswith("The image, patches shaded")
    assert 'data-i="3"' in page  # the patches are listed (and clickable) as components
