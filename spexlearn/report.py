"""A self-contained HTML report of an explanation: the text shaded by effect, the
strongest interactions of any component on selection, and the plots embedded."""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path

import numpy as np

from .segment import Segmentation

__all__ = ["explanation_html", "interactions_html", "write_cite_report", "write_report"]

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 60rem;
       color: #222; line-height: 1.5; }
h1 { font-size: 1.5rem; margin-bottom: 0.2rem; }
.meta { color: #555; font-size: 0.9rem; }
.text { border: 1px solid #ddd; border-radius: 6px; padding: 1rem; white-space: pre-wrap;
        font-size: 1.2rem; line-height: 1.9; }
.c { border-radius: 3px; cursor: pointer; padding: 1px 2px; }
.c.light { color: #fff; }
.c.selected { outline: 2px solid #222; outline-offset: 1px; }
.legend { font-size: 0.85rem; color: #555; margin: 0.4rem 0 0; }
.legend .c { display: inline-block; min-width: 3.2rem; text-align: center; cursor: default;
             margin-right: 1px; font-variant-numeric: tabular-nums; }
.chips .c { display: inline-block; margin: 2px; padding: 2px 6px; border: 1px solid #ccc; }
#details { min-height: 6rem; border-left: 4px solid #888; padding: 0.5rem 1rem;
           margin: 1rem 0; background: #f7f9fc; }
table { border-collapse: collapse; margin: 0.5rem 0; }
td, th { padding: 0.2rem 0.7rem; border-bottom: 1px solid #eee; text-align: left; }
td.v { text-align: right; font-variant-numeric: tabular-nums; }
.pos { color: #b2182b; } .neg { color: #2166ac; }
img { max-width: 100%; }
"""

_SCRIPT = """
const data = JSON.parse(document.getElementById("data").textContent);
const fmt = v => (v >= 0 ? "+" : "") + v.toFixed(3);
const names = s => s.map(i => data.components[i]).join(" \\u00d7 ");
function select(i) {
  document.querySelectorAll(".c.selected").forEach(e => e.classList.remove("selected"));
  document.querySelectorAll('.c[data-i="' + i + '"]').forEach(e => e.classList.add("selected"));
  const rows = data.terms.filter(t => t.s.includes(i))
    .sort((a, b) => Math.abs(b.v) - Math.abs(a.v)).slice(0, data.per_component);
  const box = document.getElementById("details");
  box.innerHTML = "";
  const head = document.createElement("h3");
  head.id = "details-title";
  head.textContent = data.components[i] + " \\u2014 Shapley value " + fmt(data.effects[i]);
  box.appendChild(head);
  if (!rows.length) {
    box.appendChild(document.createTextNode("No interaction with this component was found."));
    return;
  }
  const table = document.createElement("table");
  table.id = "details-table";
  table.innerHTML = "<tr><th>" + data.index + "</th><th>order</th><th>with</th></tr>";
  for (const t of rows) {
    const tr = table.insertRow();
    const v = tr.insertCell(); v.className = "v " + (t.v >= 0 ? "pos" : "neg");
    v.textContent = fmt(t.v);
    tr.insertCell().textContent = t.s.length;
    const others = t.s.filter(j => j !== i);
    tr.insertCell().textContent = others.length ? names(others) : "(alone)";
  }
  box.appendChild(table);
}
document.querySelectorAll("#text .c").forEach(e =>
  e.addEventListener("click", () => select(Number(e.dataset.i))));
const match = location.hash.match(/c=(\\d+)/);
if (match) select(Number(match[1]));
"""


# The notebook view's style, scoped to its own block so that it leaves the notebook alone.
_FRAGMENT_STYLE = """
.spexlearn-view .meta { color: #555; font-size: 0.9em; }
.spexlearn-view .text { border: 1px solid #ddd; border-radius: 6px; padding: 0.6em;
  white-space: pre-wrap; line-height: 1.9; }
.spexlearn-view .c { border-radius: 3px; padding: 1px 2px; }
.spexlearn-view .c.light { color: #fff; }
.spexlearn-view .chips .c { display: inline-block; margin: 2px; padding: 2px 6px;
  border: 1px solid #ccc; }
.spexlearn-view .legend .c { display: inline-block; min-width: 3.2em; text-align: center; }
.spexlearn-view td, .spexlearn-view th { padding: 0.15em 0.7em; text-align: left;
  border-bottom: 1px solid #eee; }
.spexlearn-view td.v { text-align: right; font-variant-numeric: tabular-nums; }
.spexlearn-view .pos { color: #b2182b; } .spexlearn-view .neg { color: #2166ac; }
"""


def explanation_html(explainer, value_function=None, *, index: str = "mobius",
                     top: int = 10) -> str:
    """The explanation as an HTML fragment, for a notebook cell: how far to trust it,
    the input (or the components) shaded by each component's Shapley value, the legend,
    and the table of the strongest interactions. No script, nothing loaded from outside.

    Parameters
    ----------
    explainer : fitted SPEXExplainer or ProxySPEXExplainer
    value_function : value function or None
        Where it has a :class:`~spexlearn.segment.Segmentation` (e.g.
        :class:`~spexlearn.ablation.TextAblation`), its input is shaded in place, and
        its ``describe()`` heads the fragment.
    index : str, default="mobius"
    top : int, default=10

    Returns
    -------
    str

    Examples
    --------
    >>> from spexlearn import ProxySPEXExplainer
    >>> from spexlearn.datasets import make_sparse_function
    >>> f, _ = make_sparse_function(6, n_terms=4, max_order=2, random_state=0)
    >>> explainer = ProxySPEXExplainer(f, budget=64, max_order=2, random_state=0).fit()
    >>> "Strongest interactions" in explanation_html(explainer)
    True
    """
    effects = explainer.interactions(index="shapley", order=1)
    effect = np.array([effects[(i,)] for i in range(len(explainer.component_names_))])
    interactions = explainer.interactions(index=index)
    parts = [f"<style>{_FRAGMENT_STYLE}</style>",
             _header(explainer, value_function, None, None, None).replace("<h1>", "<h3>")
             .replace("</h1>", "</h3>"),
             _components_html(value_function, explainer.component_names_, effect),
             _legend_html(effect),
             f"<h4>Strongest interactions ({html.escape(index)})</h4>",
             _table_html(interactions, top)]
    return '<div class="spexlearn-view">' + "\n".join(parts) + "</div>"


def interactions_html(interactions, top: int = 10) -> str:
    """The strongest ``top`` interactions as an HTML table (strongest first)."""
    shown = min(top, len(interactions))
    title = (f'<p class="meta">{html.escape(interactions.index)}: {len(interactions)} terms '
             f"over {interactions.n_components} components; the {shown} strongest</p>")
    return ('<div class="spexlearn-view">' + f"<style>{_FRAGMENT_STYLE}</style>" + title
            + _table_html(interactions, top) + "</div>")


def write_report(path, explainer, value_function=None, *, title: str | None = None,
                 index: str = "mobius", top: int = 15, faithfulness: float | None = None,
                 curves: dict | None = None, plots: bool = True,
                 holdout: int | None = None) -> Path:
    """Write one self-contained HTML file explaining a fitted explainer.

    The page shows the text (for a :class:`~spexlearn.ablation.TextAblation`) or the
    components, each shaded by its Shapley value (red raises the output, blue lowers it;
    the strongest is fully coloured, the weaker ones by the square root of their share of
    it, never paler than a visible tint, and a legend gives the scale);
    clicking a component lists its strongest interactions. Below: the table of the
    strongest interactions, and the bar chart, network and (given ``curves``)
    faithfulness-versus-budget plots as embedded images; for an
    :class:`~spexlearn.ablation.ImageAblation`, first the image with its patches shaded
    and the strongest interacting pairs joined (:func:`spexlearn.plot.plot_image`).
    Nothing is loaded from outside the file.

    Parameters
    ----------
    path : str or Path
        The HTML file to write.
    explainer : fitted SPEXExplainer or ProxySPEXExplainer
    value_function : TextAblation or None
        Gives the text, the model's name and the target. None: components are shown as a
        list of names.
    title : str or None
    index : str, default="mobius"
        Interaction index of the tables and plots.
    top : int, default=15
        Rows of the strongest-interactions table (and interactions listed per component).
    faithfulness : float or None
        R² measured on fresh masks, to show in the header beside the explainer's own
        estimate ``faithfulness_``.
    curves : dict or None
        ``{label: {"budgets": [...], "r2": [...]}}`` for a faithfulness-versus-budget plot.
    plots : bool, default=True
        Embed the plots (needs matplotlib and networkx).
    holdout : int or None
        The number of fresh masks ``faithfulness`` was measured on.

    Returns
    -------
    Path
        The file written.

    Examples
    --------
    >>> import tempfile
    >>> from spexlearn import ProxySPEXExplainer
    >>> from spexlearn.datasets import make_sparse_function
    >>> f, _ = make_sparse_function(8, n_terms=6, max_order=2, random_state=0)
    >>> explainer = ProxySPEXExplainer(f, budget=128, max_order=2, random_state=0).fit()
    >>> out = write_report(tempfile.mkdtemp() + "/r.html", explainer, plots=False)
    >>> "<html" in out.read_text()
    True
    """
    interactions = explainer.interactions(index=index)
    effects = explainer.interactions(index="shapley", order=1)
    n = len(explainer.component_names_)
    effect = np.array([effects[(i,)] for i in range(n)])
    terms = [{"s": list(s), "v": float(v)} for s, v in interactions if s]
    data = {"components": list(explainer.component_names_), "effects": effect.tolist(),
            "terms": terms, "index": index, "per_component": int(top)}
    body = [
        _header(explainer, value_function, title, faithfulness, holdout),
        "<h2>Components</h2>",
        '<p class="meta">Each component is shaded by its own effect on the value (its '
        "Shapley value): red raises it, blue lowers it, the stronger the colour the larger "
        "the effect. Click a component to see its strongest interactions.</p>",
        _components_html(value_function, explainer.component_names_, effect),
        _legend_html(effect),
        '<div id="details"><span class="meta">No component selected.</span></div>',
        f"<h2>Strongest interactions ({html.escape(index)})</h2>",
        _table_html(interactions, top),
    ]
    if plots:
        body.append(_plots_html(interactions, curves, top, explainer, value_function))
    return _write_page(path, title or "spexlearn explanation", _STYLE, body, data, _SCRIPT)


def _write_page(path, title: str, style: str, body: list[str], data: dict,
                script: str) -> Path:
    """One self-contained HTML file: the body, its data as JSON, and the script."""
    page = (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>{html.escape(title)}</title>"
        f"<style>{style}</style></head><body>\n" + "\n".join(body)
        + '\n<script type="application/json" id="data">'
        + json.dumps(data).replace("</", "<\\/") + "</script>\n"
        + f"<script>{script}</script>\n</body></html>\n"
    )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    return path


_CITE_STYLE = """
.a { cursor: pointer; border-radius: 3px; padding: 1px 2px; border-bottom: 2px solid #bbb; }
.a.selected { background: #222; color: #fff; }
"""

_CITE_SCRIPT = """
const data = JSON.parse(document.getElementById("data").textContent);
const fmt = v => (v >= 0 ? "+" : "") + v.toFixed(3);
const RAISES = "178,24,43", LOWERS = "33,102,172";
function alpha(v, scale) {  // as spexlearn.report._alpha
  const share = scale > 0 ? Math.min(Math.abs(v) / scale, 1) : 0;
  return share < 1e-3 ? 0 : 0.15 + 0.7 * Math.sqrt(share);
}
function choose(k) {
  const s = data.sentences[k];
  document.querySelectorAll(".a").forEach(e => e.classList.toggle("selected",
    Number(e.dataset.k) === k));
  const scale = Math.max(...s.effects.map(Math.abs));
  document.querySelectorAll("#text .c").forEach(e => {
    const v = s.effects[Number(e.dataset.i)], a = alpha(v, scale);
    e.style.background = "rgba(" + (v >= 0 ? RAISES : LOWERS) + "," + a.toFixed(3) + ")";
    e.classList.toggle("light", a > 0.6);
    e.title = "Shapley value " + fmt(v);
  });
  const box = document.getElementById("details");
  box.innerHTML = "";
  const head = document.createElement("h3");
  head.id = "details-title";
  head.textContent = "\u201c" + s.text + "\u201d \u2014 faithfulness R\u00b2 " +
    s.faithfulness.toFixed(3);
  box.appendChild(head);
  const table = document.createElement("table");
  table.id = "details-table";
  table.innerHTML = "<tr><th>" + data.index + "</th><th>sources</th></tr>";
  for (const t of s.terms) {
    const tr = table.insertRow();
    const v = tr.insertCell(); v.className = "v " + (t.v >= 0 ? "pos" : "neg");
    v.textContent = fmt(t.v);
    tr.insertCell().textContent = t.s.map(i => data.components[i]).join(" \u00d7 ");
  }
  box.appendChild(table);
}
document.querySelectorAll(".a").forEach(e =>
  e.addEventListener("click", () => choose(Number(e.dataset.k))));
const match = location.hash.match(/s=(\\d+)/);
choose(match ? Number(match[1]) : 0);
"""


def write_cite_report(path, cited, explainers, *, index: str = "mobius", top: int = 5,
                      title: str | None = None) -> Path:
    """Write one self-contained HTML file of a cited answer: the answer with each
    sentence clickable, and for the chosen sentence the context shaded by each part's
    Shapley value for it and the table of its strongest sources and source pairs.

    Parameters
    ----------
    path : str or Path
    cited : AnswerAblation
        Its answer, answer sentences and context.
    explainers : list of fitted explainers
        One per sentence of the answer, in order (``cited.spans()`` explained).
    index : str, default="mobius"
    top : int, default=5
        Terms listed per sentence (orders 1 and 2, strongest first).
    title : str or None

    Returns
    -------
    Path
    """
    sentences = []
    for segment, explainer in zip(cited.answer_segmentation_.segments, explainers,
                                  strict=True):
        effects = explainer.interactions(index="shapley", order=1)
        terms = explainer.interactions(index=index, order=2)
        sentences.append({
            "text": segment.text,
            "effects": [float(effects[(i,)]) for i in range(cited.n_components)],
            "faithfulness": float(explainer.faithfulness_),
            "terms": [{"s": list(s), "v": float(v)} for s, v in terms.top(top) if s]})
    data = {"components": list(cited.component_names), "index": index,
            "sentences": sentences}
    answer, cursor, parts = cited.answer_, 0, []
    for k, segment in enumerate(cited.answer_segmentation_.segments):
        parts.append(html.escape(answer[cursor:segment.start]))
        parts.append(f'<span class="a" data-k="{k}">{html.escape(segment.text)}</span>')
        cursor = segment.end
    parts.append(html.escape(answer[cursor:]))
    queries = max((e.n_queries_ for e in explainers), default=0)
    about = cited.describe()
    facts = [f"{cited.n_components} parts of the context",
             f"{len(sentences)} answer sentences",
             f"{queries} model queries, shared by every sentence"]
    zeros = np.zeros(cited.n_components)
    body = [
        f"<h1>{html.escape(title or 'Which sources support each sentence of the answer')}"
        "</h1>",
        f'<p class="meta" id="facts">{html.escape(" · ".join(facts))}</p>',
        '<p class="meta">' + "<br>".join(
            f"{label}: {html.escape(str(about[key]))}"
            for key, label in (("model", "Model"), ("prompt", "Prompt")) if key in about)
        + "</p>",
        "<h2>Answer</h2>",
        '<p class="meta">Click a sentence: the context below is shaded by what each part '
        "adds to that sentence's log-probability (its Shapley value; red raises it, blue "
        "lowers it), and its strongest sources and source pairs are listed.</p>",
        f'<div class="text" id="answer">{"".join(parts)}</div>',
        "<h2>Context</h2>",
        _components_html(cited, cited.component_names, zeros),
        '<div id="details"></div>',
    ]
    return _write_page(path, title or "spexlearn citations", _STYLE + _CITE_STYLE, body,
                       data, _CITE_SCRIPT)


def _header(explainer, value_function, title, faithfulness, holdout) -> str:
    facts = [f"{len(explainer.component_names_)} components",
             f"{explainer.n_queries_} queries", type(explainer).__name__]
    estimate = getattr(explainer, "faithfulness_", None)
    if estimate is not None:
        facts.append(f"faithfulness R² {estimate:.3f} estimated from the queries "
                     f"({explainer.faithfulness_method_})")
    if faithfulness is not None:
        on = f"{holdout} fresh masks" if holdout else "fresh masks"
        facts.append(f"R² {faithfulness:.3f} measured on {on}")
    lines = [f"<h1>{html.escape(title or 'What drives the output')}</h1>",
             f'<p class="meta" id="facts">{html.escape(" · ".join(facts))}</p>']
    # The value function's description (see Ablation.describe), where it gives one.
    described = getattr(value_function, "describe", None)
    about = described() if callable(described) else {}
    shown = [(label, about[key]) for key, label in
             (("model", "Model"), ("value", "Value"), ("prompt", "Prompt")) if key in about]
    if shown:
        lines.append('<p class="meta">' + "<br>".join(
            f"{label}: {html.escape(str(text))}" for label, text in shown) + "</p>")
    return "\n".join(lines)


_RAISES, _LOWERS = "178,24,43", "33,102,172"  # red and blue, as in spexlearn.plot


def _alpha(value: float, scale: float) -> float:
    """Opacity of a component's shading: 0.85 for the strongest, the square root of the
    share of it for the others (a quarter of the effect is half the colour), and at least
    0.15 for any effect above a thousandth of the strongest, so that none is lost."""
    share = 0.0 if scale <= 0 else min(abs(value) / scale, 1.0)
    if share < 1e-3:
        return 0.0
    return 0.15 + 0.7 * float(np.sqrt(share))


def _shade(value: float, scale: float) -> str:
    rgb = _RAISES if value >= 0 else _LOWERS
    return f"background: rgba({rgb},{_alpha(value, scale):.3f})"


def _span(i: int, text: str, value: float, scale: float) -> str:
    light = " light" if _alpha(value, scale) > 0.6 else ""  # white text on dark shading
    return (f'<span class="c{light}" data-i="{i}" style="{_shade(value, scale)}" '
            f'title="Shapley value {value:+.3f}">{html.escape(text)}</span>')


def _legend_html(effect: np.ndarray) -> str:
    """A row of swatches: the shading of a few values from the strongest lowering effect
    to the strongest raising one."""
    scale = float(np.abs(effect).max()) if len(effect) else 0.0
    if scale == 0:
        return '<p class="legend" id="legend">No component changes the value.</p>'
    steps = [-1.0, -0.5, -0.1, 0.1, 0.5, 1.0]
    swatches = "".join(
        f'<span class="c{" light" if _alpha(s * scale, scale) > 0.6 else ""}" '
        f'style="{_shade(s * scale, scale)}">{s * scale:+.2f}</span>' for s in steps)
    return (f'<p class="legend" id="legend">lowers the value {swatches} raises the value '
            "(Shapley values)</p>")


def _components_html(value_function, names, effect: np.ndarray) -> str:
    scale = float(np.abs(effect).max()) if len(effect) else 0.0
    # The input with each component in place, where the value function has a
    # Segmentation (see Ablation.segmentation); else one chip per component.
    segmentation = getattr(value_function, "segmentation", None)
    if not isinstance(segmentation, Segmentation) or len(segmentation) != len(names):
        chips = " ".join(_span(i, name, effect[i], scale) for i, name in enumerate(names))
        return f'<div class="text chips" id="text">{chips}</div>'
    text, parts, cursor = segmentation.source, [], 0
    for i, part in enumerate(segmentation.segments):
        parts.append(html.escape(text[cursor : part.start]))
        parts.append(_span(i, text[part.start : part.end], effect[i], scale))
        cursor = part.end
    parts.append(html.escape(text[cursor:]))
    return f'<div class="text" id="text">{"".join(parts)}</div>'


def _table_html(interactions, top: int) -> str:
    rows = ['<table id="top-table"><tr><th>rank</th><th>value</th><th>order</th>'
            "<th>components</th></tr>"]
    for rank, (subset, value) in enumerate(interactions.top(top), 1):
        names = " × ".join(interactions.names_of(subset))
        sign = "pos" if value >= 0 else "neg"
        rows.append(f'<tr><td>{rank}</td><td class="v {sign}">{value:+.3f}</td>'
                    f"<td>{len(subset)}</td><td>{html.escape(names)}</td></tr>")
    rows.append("</table>")
    return "\n".join(rows)


def _plots_html(interactions, curves, top: int, explainer=None, value_function=None) -> str:
    from . import plot
    from .ablation import ImageAblation

    figures = [("Top interactions", plot.plot_bar(interactions, k=min(top, 12))),
               ("Interaction network", plot.plot_network(interactions, k=top))]
    if isinstance(value_function, ImageAblation) and explainer is not None:
        # The picture itself first: each patch shaded, the strongest pairs joined.
        figures.insert(0, ("The image, patches shaded by effect and the strongest pairs "
                           "joined", plot.plot_image(explainer, value_function,
                                                     k=min(top, 5))))
    if curves:
        figures.append(("Faithfulness against budget", plot.plot_faithfulness(curves)))
    images = [f'<h2>{name}</h2><img alt="{name}" src="data:image/png;base64,{_png(ax)}">'
              for name, ax in figures]
    return "\n".join(images)


def _png(ax) -> str:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    ax.figure.savefig(buffer, format="png", dpi=90)
    plt.close(ax.figure)
    return base64.b64encode(buffer.getvalue()).decode()
