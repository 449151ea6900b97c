"""The HTML report: its content, and the page as a real browser renders it."""

import os
import shutil

import pytest

from spexlearn import ProxySPEXExplainer
from spexlearn.ablation import TextAblation
from spexlearn.report import write_report
from spexlearn.tests._fake_lm import WordLM

TEXT = "the film was not bad and the end was wonderful"
CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")


@pytest.fixture(scope="module")
def explained():
    value = TextAblation(WordLM(), TEXT, template="{text}\nPositive?",
                         target=("positive", "negative"), progress=False)
    explainer = ProxySPEXExplainer(value, budget=300, max_order=2, random_state=0).fit()
    return value, explainer


def test_report_is_self_contained_and_shades_the_text(explained, tmp_path):
    pytest.importorskip("matplotlib")
    value, explainer = explained
    curves = {"ProxySPEX": {"budgets": [100, 300], "r2": [0.9, 1.0]}}
    page = write_report(tmp_path / "r.html", explainer, value, faithfulness=1.0,
                        curves=curves, holdout=100).read_text()
    assert page.count(' data-i="') == 10 and "the film was" not in page  # words wrapped
    assert page.count("data:image/png;base64,") == 3
    assert "http://" not in page and "https://" not in page and "<script src" not in page
    assert "faithfulness R² 1.000 estimated from the queries" in page and "word-lm" in page
    assert "R² 1.000 measured on 100 fresh masks" in page
    # Shapley values: "wonderful" 1.5 (the strongest: deep red, white letters), "not" 1.0
    # (0.15 + 0.7 sqrt(2/3)), "bad" -1 + 2/2 = 0 (clear).
    assert 'class="c light" data-i="9" style="background: rgba(178,24,43,0.850)' in page
    assert 'class="c light" data-i="3" style="background: rgba(178,24,43,0.722)' in page
    assert 'class="c" data-i="4" style="background: rgba(178,24,43,0.000)' in page
    assert 'id="legend">lowers the value' in page and ">+1.50</span>" in page


def test_shading_strongest_deep_weak_visible_none_clear():
    from spexlearn.report import _alpha

    assert _alpha(-2.0, 2.0) == pytest.approx(0.85) and _alpha(0.0, 2.0) == 0.0
    assert 0.15 <= _alpha(0.02, 2.0) < 0.25  # 1 % of the strongest: a visible tint
    assert _alpha(0.5, 2.0) == pytest.approx(0.5)  # a quarter: half the colour
    assert _alpha(1.0, 0.0) == 0.0  # nothing to scale by


def test_report_without_text_lists_components(explained, tmp_path):
    _, explainer = explained
    page = write_report(tmp_path / "r.html", explainer, plots=False).read_text()
    assert 'class="text chips"' in page and page.count(' data-i="') == 10


def _browser():
    if not (CHROMIUM and DRIVER):
        if os.environ.get("SPEXLEARN_REQUIRE_BROWSER"):
            pytest.fail("chromium and chromedriver are required (apt-get install chromium "
                        "chromium-driver)")
        pytest.skip("chromium/chromedriver not installed")
    webdriver = pytest.importorskip("selenium.webdriver")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--window-size=1200,1400"):
        options.add_argument(flag)
    return webdriver.Chrome(options=options, service=webdriver.ChromeService(DRIVER))


def test_report_in_a_real_browser(explained, tmp_path):
    pytest.importorskip("matplotlib")
    # Skipped, not an ImportError, where selenium is not installed.
    By = pytest.importorskip("selenium.webdriver.common.by").By

    value, explainer = explained
    path = write_report(tmp_path / "r.html", explainer, value, index="mobius")
    driver = _browser()
    try:
        driver.get(path.resolve().as_uri())
        spans = driver.find_elements(By.CSS_SELECTOR, "#text .c")
        assert [s.text for s in spans] == TEXT.split()
        assert driver.find_element(By.ID, "text").text == TEXT
        spans[3].click()  # "not"
        title = driver.find_element(By.ID, "details-title").text
        assert title.startswith("not")
        rows = driver.find_elements(By.CSS_SELECTOR, "#details-table tr")[1:]
        first = [cell.text for cell in rows[0].find_elements(By.TAG_NAME, "td")]
        assert first == ["+2.000", "2", "bad"]  # Möbius: "not" and "bad" together
        assert "selected" in spans[3].get_attribute("class")
        # The strongest word is deeply coloured, the weaker ones still visibly tinted.
        shades = [driver.execute_script(
            "return getComputedStyle(arguments[0]).backgroundColor", s) for s in spans]
        alphas = [float(s.rsplit(",", 1)[1].rstrip(")")) if s.startswith("rgba") else 1.0
                  for s in shades]
        assert alphas[9] > 0.8 and shades[9].startswith("rgba(178, 24, 43")  # wonderful
        assert 0.5 < alphas[3] < alphas[9] and alphas[4] == 0.0  # not; bad (no effect)
        legend = driver.find_element(By.ID, "legend").text
        assert "lowers the value" in legend and "raises the value" in legend
        images = driver.find_elements(By.TAG_NAME, "img")
        assert len(images) == 2 and all(
            driver.execute_script("return arguments[0].naturalWidth", im) > 100
            for im in images)
        shot = tmp_path / "page.png"
        assert driver.save_screenshot(str(shot))
    finally:
        driver.quit()
    import matplotlib.pyplot as plt

    pixels = plt.imread(shot)[..., :3]
    assert pixels.shape[0] > 500 and pixels.shape[1] > 800
    red = (pixels[..., 0] > pixels[..., 1] + 0.1) & (pixels[..., 0] > pixels[..., 2] + 0.1)
    assert red.sum() > 200  # the shading and the bars are drawn


def test_notebook_views_show_the_explanation():
    from spexlearn import ProxySPEXExplainer
    from spexlearn.ablation import TextAblation
    from spexlearn.tests._fake_lm import WordLM

    value = TextAblation(WordLM(), "the film was not bad at all", target="positive",
                         progress=False)
    explainer = ProxySPEXExplainer(value, budget=128, max_order=2, random_state=0)
    assert "sk-" in explainer._repr_html_()  # unfitted: scikit-learn's diagram
    explainer.fit()
    view = explainer._repr_html_()
    assert explainer._repr_mimebundle_()["text/html"] == view  # what Jupyter asks first
    # How far to trust it, the text shaded in place, the legend, the strongest terms.
    assert "faithfulness R² 1.000" in view and 'class="text"' in view
    assert view.count('<span class="c') >= 7 and "lowers the value" in view
    assert "not × bad" in view and "<script" not in view
    table = explainer.interactions_._repr_html_()
    assert table.count("<tr>") == 1 + len(explainer.interactions_.top(10)) == 3
    assert "not × bad" in table and ".spexlearn-view" in table
