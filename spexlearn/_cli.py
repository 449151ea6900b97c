"""The ``spexlearn`` command line: explain a language model's answer from the shell."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from .segment import UNITS, segment
from .spectral import INDICES

__all__ = ["main", "main_exit"]

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_MISSING, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
METHODS = ("proxyspex", "spex", "greedy")

EPILOG = """\
examples:
  spexlearn explain "The film was long, but the ending is wonderful." \\
      --question "Is this review positive or negative? Answer with one word." \\
      --target positive --versus negative
  spexlearn explain --file context.txt --unit sentence \\
      --question "In which country does Anna live today?" --budget 500 --report qa.html
  cat notes.txt | spexlearn explain --unit paragraph --json > explanation.json

The value of a mask is the log-probability of the target answer (default: the model's
own answer to the full text) with only the kept components in the prompt; with --versus
it is log p(target) - log p(versus).

exit codes: 0 done, 1 the explanation failed (the message says why), 2 bad arguments or
input, 3 a missing optional dependency or model, 130 interrupted (with --cache, a rerun
resumes where it stopped).
"""


class InputError(ValueError):
    """Bad input that the user can fix (exit code 2)."""


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        return args.run(args)
    except InputError as error:
        return _fail(f"{error}", EXIT_USAGE, args)
    except (ImportError, FileNotFoundError) as error:
        return _fail(f"{error}", EXIT_MISSING, args)
    except KeyboardInterrupt:
        resume = " (rerun with the same --cache to resume)" if args.cache else ""
        print(f"\nspexlearn: interrupted{resume}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (ValueError, TypeError, RuntimeError, OSError) as error:
        return _fail(f"{error}", EXIT_ERROR, args)


def _fail(message: str, code: int, args: argparse.Namespace) -> int:
    if getattr(args, "traceback", False):
        raise
    print(f"spexlearn: error: {message}", file=sys.stderr)
    return code


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="spexlearn",
        description="Explain what drives a language model's answer: the interactions "
        "among the words, sentences or paragraphs of its prompt.",
    )
    parser.add_argument("--version", action="version", version=_version())
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    explain = commands.add_parser(
        "explain", help="explain the model's answer to a text",
        description="Ablate parts of a text, query the model, and print the strongest "
        "interactions among the parts.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_explain_arguments(explain)
    explain.set_defaults(run=run_explain)
    return parser


def _add_explain_arguments(p: argparse.ArgumentParser) -> None:
    source = p.add_argument_group("input")
    source.add_argument("text", nargs="?", help="the text to explain ('-' or absent: stdin)")
    source.add_argument("--file", type=Path, help="read the text from this file")
    source.add_argument("--unit", choices=UNITS, default="word",
                        help="what one component is (default: word)")
    prompt = source.add_mutually_exclusive_group()
    prompt.add_argument("--question", help="a fixed question or instruction after the text")
    prompt.add_argument("--template", help="the full prompt, with {text} where the text goes")
    source.add_argument("--target", help="the answer to score (default: the model's own)")
    source.add_argument("--versus", help="a second answer: score log p(target) - log p(versus)")
    source.add_argument("--mask", choices=("remove", "token"), default="remove",
                        help="delete ablated parts, or replace them with --placeholder")
    source.add_argument("--placeholder", default="...", help="text for --mask token")

    method = p.add_argument_group("method")
    method.add_argument("--method", choices=METHODS, default="proxyspex",
                        help="explainer (default: proxyspex)")
    method.add_argument("--budget", type=_positive_int, default=1000,
                        help="model queries to spend (default: 1000)")
    method.add_argument("--max-order", type=_positive_int, default=3,
                        help="largest interaction order (default: 3)")
    method.add_argument("--holdout", type=_non_negative_int, default=100,
                        help="extra random masks to measure faithfulness R² on (default: 100; "
                        "0 skips)")
    method.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    method.add_argument("--model", type=Path,
                        help="a local transformers model directory or .gguf file (default: "
                        "the embedded SmolLM2-135M-Instruct)")
    method.add_argument("--device", default="cpu", help="torch device (default: cpu)")
    method.add_argument("--cache", type=Path,
                        help="directory keeping every model answer; a rerun queries nothing twice")

    output = p.add_argument_group("output")
    output.add_argument("--index", choices=INDICES, default="mobius",
                        help="interaction index to report (default: mobius)")
    output.add_argument("--top", type=_positive_int, default=10,
                        help="interactions to show (default: 10)")
    output.add_argument("--json", action="store_true", help="print JSON instead of a table")
    output.add_argument("--report", type=Path, metavar="FILE.html",
                        help="also write a self-contained HTML report (text shaded by "
                        "effect, interactions on click, plots)")
    output.add_argument("--quiet", action="store_true", help="no progress on stderr")
    output.add_argument("--traceback", action="store_true", help="show tracebacks of errors")


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text}")
    return value


def _version() -> str:
    from . import __version__

    return f"spexlearn {__version__}"


# ------------------------------------------------------------------ explain
def run_explain(args: argparse.Namespace) -> int:
    text = read_text(args.text, args.file)
    template = prompt_template(args.question, args.template)
    if args.versus is not None and args.target is None:
        raise InputError("--versus needs --target: the two answers to contrast.")
    if args.report is not None and args.method == "greedy":
        raise InputError("--report needs --method proxyspex or spex (greedy finds no "
                         "interactions to report).")
    n_parts = len(segment(text, args.unit))
    if n_parts < 2:
        raise InputError(
            f"the text has {n_parts} {args.unit}: there is nothing to interact; "
            "give a longer text or a finer --unit."
        )
    _progress(args, "loading the model...")
    lm = _load_model(args.model, args.device)
    value = _text_ablation(lm, text, template, args)
    _progress(args, f"{value.n_components} {args.unit}s; target: {value.target_text_!r}")
    start = time.perf_counter()
    if args.method == "greedy":
        result = _run_greedy(value, args)
    else:
        result = _run_explainer(value, args)
    result["seconds"] = round(time.perf_counter() - start, 2)
    result.update(model=lm.name, unit=args.unit, target=value.target_text_, method=args.method)
    print(json.dumps(result, indent=2, default=_json_default) if args.json else _table(result))
    return EXIT_OK


def read_text(text: str | None, file: Path | None) -> str:
    """The text from the argument, a file or stdin, checked to be non-empty."""
    if text is not None and file is not None:
        raise InputError("give the text either as an argument or with --file, not both.")
    if file is not None:
        if not file.is_file():
            raise InputError(f"--file {file}: no such file.")
        text = file.read_text(encoding="utf-8")
    elif text is None or text == "-":
        if sys.stdin is None or sys.stdin.isatty():
            raise InputError("no text: pass it as an argument, with --file, or on stdin.")
        text = sys.stdin.read()
    if not text.strip():
        raise InputError("the text is empty: give a text with at least one word.")
    return text.strip()


def prompt_template(question: str | None, template: str | None) -> str:
    if template is not None:
        if "{text}" not in template:
            raise InputError("--template must contain {text} where the text goes.")
        return template
    return "{text}" if not question else "{text}\n" + question


def _load_model(path: Path | None, device: str):
    from .lm import load_default_lm, load_lm

    if path is None:
        return load_default_lm(device=device)
    return load_lm(path, device=device)


def _text_ablation(lm, text: str, template: str, args: argparse.Namespace):
    from .ablation import TextAblation

    target = args.target if args.versus is None else (args.target, args.versus)
    value = TextAblation(lm, text, unit=args.unit, template=template, target=target,
                         mask=args.mask, placeholder=args.placeholder,
                         progress=not args.quiet)
    if args.cache is not None:
        args.cache.mkdir(parents=True, exist_ok=True)
        value.cache = args.cache / f"{value.fingerprint()}.cache"
    return value


def _run_explainer(value, args: argparse.Namespace) -> dict:
    from . import ProxySPEXExplainer, SPEXExplainer

    budget = args.budget
    if value.n_components <= 30 and budget > 2**value.n_components:
        budget = 2**value.n_components
        _progress(args, f"budget {args.budget} > the {budget} possible masks: querying all")
    if args.method == "spex":
        explainer = SPEXExplainer(value, budget=budget, max_order=args.max_order,
                                  random_state=args.seed)
    else:
        explainer = ProxySPEXExplainer(value, budget=budget, max_order=args.max_order,
                                       random_state=args.seed)
    explainer.fit()
    _progress(args, f"{explainer.n_queries_} queries; {len(explainer.interactions_)} terms")
    result = {"components": value.component_names, "queries": explainer.n_queries_,
              "full_value": float(value(np.ones((1, value.n_components)))[0]),
              "faithfulness_estimate": explainer.faithfulness_,
              "faithfulness_estimate_method": explainer.faithfulness_method_,
              "surrogate": explainer.selected_surrogate_}
    if args.holdout:
        held_out = np.random.default_rng(args.seed + 1).integers(
            0, 2, size=(args.holdout, value.n_components))
        result["faithfulness_r2"] = float(explainer.score(held_out, value(held_out)))
        result["holdout"] = args.holdout
    if args.report is not None:
        from .report import write_report

        path = write_report(args.report, explainer, value, index=args.index, top=args.top,
                            faithfulness=result.get("faithfulness_r2"),
                            holdout=args.holdout)
        _progress(args, f"report written to {path}")
        result["report"] = str(path)
    interactions = explainer.interactions(index=args.index, order=args.max_order)
    result["index"] = args.index
    result["interactions"] = [
        {"components": list(subset), "text": [value.component_names[i] for i in subset],
         "value": float(v)}
        for subset, v in interactions.top(args.top)
    ]
    return result


def _run_greedy(value, args: argparse.Namespace) -> dict:
    from . import GreedyAblationExplainer

    # With a label contrast, stop at the smallest set found that flips the label.
    threshold = 0.0 if args.versus is not None else None
    explainer = GreedyAblationExplainer(value, budget=args.budget, threshold=threshold).fit()
    steps = [
        {"components": [int(c)], "text": [value.component_names[c]], "value": float(v),
         "gain": float(g)}
        for c, v, g in zip(explainer.selected_, explainer.values_[1:], explainer.gains_)
    ]
    return {"components": value.component_names, "queries": explainer.n_queries_,
            "full_value": float(explainer.values_[0]), "index": "greedy",
            "interactions": steps[: args.top]}


def _progress(args: argparse.Namespace, message: str) -> None:
    if not args.quiet:
        print(f"spexlearn: {message}", file=sys.stderr)


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    return str(value)


# ------------------------------------------------------------------ output
def _table(result: dict) -> str:
    target = result["target"]
    target = " vs ".join(map(repr, target)) if isinstance(target, tuple) else repr(target)
    lines = [
        f"model: {result['model']}",
        f"target: {target}   value with every {result['unit']} kept: "
        f"{result['full_value']:+.3f}",
        f"{result['method']}: {result['queries']} queries in {result['seconds']:.0f} s",
        *_faithfulness_lines(result),
        "",
    ]
    greedy = result["index"] == "greedy"
    header = ("step", "value after", "change") if greedy else ("rank", result["index"], "order")
    lines.append(f"{header[0]:>4}  {header[1]:>11}  {header[2]:>6}  components")
    width = _terminal_width() - 30
    for rank, row in enumerate(result["interactions"], 1):
        third = f"{row['gain']:+6.3f}" if greedy else f"{len(row['components']):>6}"
        lines.append(f"{rank:>4}  {row['value']:>+11.3f}  {third}  "
                     f"{_components_text(row['text'], width)}")
    if not result["interactions"]:
        lines.append("      (no interaction found)")
    return "\n".join(lines)


def _faithfulness_lines(result: dict) -> list[str]:
    """How far to trust the explanation: the estimate from the queries, and the check."""
    lines = []
    if "faithfulness_estimate" in result:
        lines.append(
            f"faithfulness R² {result['faithfulness_estimate']:.3f} estimated from the "
            f"queries ({result['faithfulness_estimate_method']}; 1 = predicts every "
            "ablation, 0 = no better than their mean)"
        )
    if "faithfulness_r2" in result:
        lines.append(f"faithfulness R² {result['faithfulness_r2']:.3f} measured on "
                     f"{result['holdout']} fresh random masks")
    return lines


def _components_text(parts: list[str], width: int) -> str:
    if not parts:
        return "(baseline)"
    share = max(12, width // len(parts) - 5)
    return " × ".join(repr(_shorten(part, share)) for part in parts)


def _shorten(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _terminal_width() -> int:
    try:
        return max(60, os.get_terminal_size().columns)
    except OSError:
        return 100


def main_exit() -> None:
    """Console-script entry point."""
    sys.exit(main())
