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
    assert page.count('class="c"') == 10 and "the film was" not in page  # words wrapped
    assert page.count("data:image/png;base64,") == 3
    assert "http://" not in page and "https://" not in page and "<script src" not in page
    assert "faithfulness R² 1.000 estimated from the queries" in page and "word-lm" in page
    assert "R² 1.000 measured on 100 fresh masks" in page
    # Shapley values: "wonderful" 1.5 (full green), "not" 1.0, "bad" -1 + 2/2 = 0 (clear).
    assert 'data-i="9" style="background: rgba(27,120,55,0.600)' in page
    assert 'data-i="3" style="background: rgba(27,120,55,0.400)' in page
    assert 'data-i="4" style="background: rgba(27,120,55,0.000)' in page


def test_report_without_text_lists_components(explained, tmp_path):
    _, explainer = explained
    page = write_report(tmp_path / "r.html", explainer, plots=False).read_text()
    assert 'class="text chips"' in page and page.count('class="c"') == 10


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
    from selenium.webdriver.common.by import By

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
    green = (pixels[..., 1] > pixels[..., 0] + 0.1) & (pixels[..., 1] > pixels[..., 2] + 0.1)
    assert green.sum() > 200  # the shading and the bars are drawn
