"""The ``spexlearn`` command line: explain a language model's answer from the shell.

Only the standard library is imported at module level: numpy, the explainers and torch
load inside ``main``, where a Ctrl-C is reported in one line instead of a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sys
import time
import warnings
from pathlib import Path

__all__ = ["main", "main_exit"]

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_MISSING, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
METHODS = ("proxyspex", "spex", "greedy")
# numpy's random seeds are 32-bit.
MAX_SEED = 2**32 - 1
# The longest answer the model generates when no --target is given (tokens).
MAX_NEW_TOKENS = 48
# The longest answer `spexlearn cite` lets the model write (AnswerAblation's default).
CITE_MAX_NEW_TOKENS = 96

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

exit codes: 0 done; 1 the explanation failed (the message says why); 2 bad arguments or
input (also: a budget the explainer refuses, a text longer than the model's context, a
--device that is not available), fixed by changing the command; 3 a missing optional
dependency or model; 130 interrupted (with --cache, a rerun resumes where it stopped).
"""


class InputError(ValueError):
    """Bad input that the user can fix (exit code 2)."""


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    args = None
    try:
        parser = _parser()
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help(sys.stderr)
            return EXIT_USAGE
        with _warnings_as_lines():
            return _run(args)
    except KeyboardInterrupt:
        # Also while the explainers, torch or the model are still being imported.
        return _interrupted(args)


def _run(args: argparse.Namespace) -> int:
    """Run the command; every failure becomes one line on stderr and an exit code."""
    import zipfile  # here, not at the top: the less before main, the less a Ctrl-C misses

    try:
        return args.run(args)
    except InputError as error:
        return _fail(f"{error}", EXIT_USAGE, args)
    except (ImportError, FileNotFoundError) as error:
        return _fail(f"{error}", EXIT_MISSING, args)
    except MemoryError as error:
        return _fail(_out_of_memory(error), EXIT_ERROR, args)
    except (zipfile.BadZipFile, EOFError) as error:
        return _fail(_corrupt_file(error), EXIT_ERROR, args)
    except (ValueError, TypeError, RuntimeError, OSError) as error:
        return _fail(f"{error}", EXIT_ERROR, args)
    except Exception as error:
        # The last line of defence: a bug must not end in a raw traceback either.
        return _fail(_unexpected(error), EXIT_ERROR, args)


@contextlib.contextmanager
def _warnings_as_lines():
    """spexlearn's warnings as one ``spexlearn: warning:`` line each, instead of Python's
    ``file:line: UserWarning`` and a line of our source; other libraries' as they are."""
    package = os.path.dirname(os.path.abspath(__file__))
    shown = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):
        if os.path.abspath(filename).startswith(package + os.sep):
            print(f"spexlearn: warning: {message}", file=sys.stderr)
        else:
            shown(message, category, filename, lineno, file, line)

    warnings.showwarning = show
    try:
        yield
    finally:
        warnings.showwarning = shown


def _fail(message: str, code: int, args: argparse.Namespace) -> int:
    if getattr(args, "traceback", False):
        raise
    print(f"spexlearn: error: {message}", file=sys.stderr)
    return code


def _interrupted(args: argparse.Namespace | None) -> int:
    resume = " (rerun with the same --cache to resume)" if getattr(args, "cache", None) else ""
    print(f"\nspexlearn: interrupted{resume}", file=sys.stderr)
    return EXIT_INTERRUPTED


def _out_of_memory(error: MemoryError) -> str:
    details = f" ({error})" if str(error) else ""
    return (f"out of memory{details}: lower --budget, --holdout or --max-order, or free "
            "memory.")


def _corrupt_file(error: Exception) -> str:
    """Say which cached file could not be read: numpy's error does not name it."""
    path = _npz_path_in(error.__traceback__)
    if path is None and isinstance(error, EOFError):
        return _unexpected(error)  # not from a file we know of (input() at end of stdin?)
    what = f"the cached file {path}" if path else "a cached file"
    fix = ("delete it" if path else "delete the bch folder of SPEX's cached codes (under "
           "$SPEXLEARN_CACHE_DIR, else ~/.cache/spexlearn)")
    return (f"{what} is corrupt or cut short ({type(error).__name__}: {error}): {fix} "
            "and rerun; the codes are rebuilt.")


def _npz_path_in(tb) -> str | None:
    """The innermost ``.npz`` path among the failing frames' variables, if any."""
    import traceback

    found = None
    for frame, _ in traceback.walk_tb(tb):
        for local in frame.f_locals.values():
            if isinstance(local, (str, Path)) and str(local).endswith(".npz"):
                found = str(local)
    return found


def _unexpected(error: Exception) -> str:
    return (f"unexpected {type(error).__name__}: {error}. This is a bug in spexlearn: rerun "
            "with --traceback and report the output.")


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
    cite = commands.add_parser(
        "cite", help="find the sources of each sentence of the model's answer",
        description="The model answers a question from a context; each sentence of the "
        "answer is then explained by the parts of the context (and pairs of them) that "
        "support it. All sentences share the same model queries.",
        epilog=CITE_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_cite_arguments(cite)
    cite.set_defaults(run=run_cite)
    return parser


CITE_EPILOG = """\
example:
  spexlearn cite --context notes.txt --question "Where was Nils born?" --report cite.html

Each answer sentence gets its own explanation of log p(sentence | context, the answer
before it) over the ablated context, read from one forward pass per mask.
"""
CITE_TEMPLATE = "Context: {text}\n\nQuestion: {question}"


def _add_cite_arguments(p: argparse.ArgumentParser) -> None:
    from .segment import UNITS

    source = p.add_argument_group("input")
    source.add_argument("--context", type=Path, required=True,
                        help="the context: a UTF-8 text file")
    source.add_argument("--question", required=True, help="the question about the context")
    source.add_argument("--answer", type=_answer,
                        help="the answer to attribute (default: the model's own)")
    source.add_argument("--unit", choices=UNITS, default="sentence",
                        help="what one source is (default: sentence)")
    source.add_argument("--value", choices=("log_prob", "logit_prob"), default="log_prob",
                        help="a sentence's value: its log-probability, or ContextCite's "
                        "logit of its probability (default: log_prob)")
    method = p.add_argument_group("method")
    method.add_argument("--budget", type=_whole_number(1, 256), default=256,
                        help="model queries, shared by every sentence (default: 256)")
    method.add_argument("--max-order", type=_whole_number(1, 3), default=3,
                        help="largest interaction order (default: 3)")
    _add_model_arguments(method, cache="directory keeping every model answer (one file "
                         "per sentence) and fitted surrogate; a rerun that finds every "
                         "answer there does not load the model")
    output = p.add_argument_group("output")
    output.add_argument("--top", type=_whole_number(1, 3), default=3,
                        help="sources and source pairs listed per sentence (default: 3)")
    output.add_argument("--json", action="store_true", help="print JSON instead of text")
    output.add_argument("--report", type=Path, metavar="FILE.html",
                        help="also write an HTML page: click a sentence of the answer to see "
                        "its sources shaded in the context")
    output.add_argument("--quiet", action="store_true", help="no progress on stderr")
    output.add_argument("--traceback", action="store_true", help="show tracebacks of errors")


def _add_explain_arguments(p: argparse.ArgumentParser) -> None:
    from .segment import UNITS
    from .spectral import INDICES

    source = p.add_argument_group("input")
    source.add_argument("text", nargs="?", help="the text to explain ('-' or absent: stdin)")
    source.add_argument("--file", type=Path, help="read the text from this UTF-8 file")
    source.add_argument("--unit", choices=UNITS, default="word",
                        help="what one component is (default: word)")
    prompt = source.add_mutually_exclusive_group()
    prompt.add_argument("--question", help="a fixed question or instruction after the text")
    prompt.add_argument("--template", help="the full prompt, with {text} where the text goes")
    source.add_argument("--target", type=_answer,
                        help="the answer to score (default: the model's own)")
    source.add_argument("--versus", type=_answer,
                        help="a second answer: score log p(target) - log p(versus)")
    source.add_argument("--masking", choices=("remove", "token"), default="remove",
                        help="delete ablated parts, or replace them with --placeholder")
    source.add_argument("--placeholder", default="...", help="text for --masking token")
    # The old spelling is refused with the new one (argparse would otherwise take it as
    # an abbreviation of --masking and hide the rename).
    source.add_argument("--mask", type=_renamed_option("--mask", "--masking"),
                        help=argparse.SUPPRESS)

    method = p.add_argument_group("method")
    method.add_argument("--method", choices=METHODS, default="proxyspex",
                        help="explainer (default: proxyspex)")
    method.add_argument("--budget", type=_whole_number(1, 1000), default=1000,
                        help="model queries to spend (default: 1000)")
    method.add_argument("--max-order", type=_whole_number(1, 5), default=5,
                        help="largest interaction order (default: 5)")
    method.add_argument("--holdout", type=_whole_number(0, 100), default=100,
                        help="extra random masks to measure faithfulness R² on (default: 100; "
                        "0 skips; none when every mask is queried)")
    _add_model_arguments(method, cache="directory keeping every model answer and fitted "
                         "surrogate; a rerun queries nothing twice, and one that finds every "
                         "answer there does not load the model")

    output = p.add_argument_group("output")
    output.add_argument("--index", choices=INDICES, default="mobius",
                        help="interaction index to report (default: mobius)")
    output.add_argument("--top", type=_whole_number(1, 10), default=10,
                        help="interactions to show (default: 10)")
    output.add_argument("--json", action="store_true", help="print JSON instead of a table")
    output.add_argument("--report", type=Path, metavar="FILE.html",
                        help="also write a self-contained HTML report (text shaded by "
                        "effect, interactions on click, plots)")
    output.add_argument("--quiet", action="store_true",
                        help="no progress on stderr (nor the model's loading bars)")
    output.add_argument("--traceback", action="store_true", help="show tracebacks of errors")


def _add_model_arguments(group, *, cache: str) -> None:
    """--seed, --model, --device and --cache, the same for every command."""
    group.add_argument("--seed", type=_whole_number(0, 0, MAX_SEED), default=0,
                       help=f"random seed, 0 to {MAX_SEED} (default: 0)")
    group.add_argument("--model", type=Path,
                       help="a local transformers model directory or .gguf file (default: "
                       "the embedded SmolLM2-135M-Instruct)")
    group.add_argument("--device", default="cpu",
                       help="torch device: cpu, cuda, cuda:N or mps (default: cpu)")
    group.add_argument("--cache", type=Path, help=cache)


def _renamed_option(old: str, new: str):
    """An option type that refuses every value of a renamed option, naming the new one."""

    def refuse(text: str) -> str:
        raise argparse.ArgumentTypeError(f"{old} is now spelled {new}: pass {new} {text}")

    return refuse


def _whole_number(minimum: int, example: int, maximum: int | None = None):
    """An argparse type for whole numbers in a range, whose errors say what to give.

    argparse prefixes the message with the option (``argument --budget: ...``); a bare
    ``int`` would say ``invalid int value``, the name of a helper even less.
    """
    wanted = {0: "0 or a positive integer", 1: "a positive integer"}.get(minimum)
    if maximum is not None or wanted is None:
        wanted = f"a whole number from {minimum} to {maximum}"

    def whole_number(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{text!r} is not a whole number; give {wanted} such as {example}") from None
        if value < minimum or (maximum is not None and value > maximum):
            raise argparse.ArgumentTypeError(f"must be {wanted}, got {text}; for example "
                                             f"{example}")
        return value

    return whole_number


def _answer(text: str) -> str:
    """An argparse type for --target and --versus: an answer to score, not empty."""
    if not text.strip():
        raise argparse.ArgumentTypeError(
            "the answer is empty; give the answer text to score, such as positive")
    return text


def _version() -> str:
    from . import __version__

    return f"spexlearn {__version__}"


# ------------------------------------------------------------------ explain
def run_explain(args: argparse.Namespace) -> int:
    from .segment import segment

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
    _check_device(args.device)
    from .ablation import RecordMismatchError

    value = _text_ablation(text, template, args)
    _progress(args, f"{value.n_components} {args.unit}s; target: {value.target_text_!r}")
    start = time.perf_counter()
    try:
        result = _run_method(value, args)
    except RecordMismatchError:
        # The cache's record named another model than the one a missing value loaded:
        # what was read under it is dropped, and the explanation starts over.
        _progress(args, "the cache's record belongs to another model: starting over")
        value = _text_ablation(text, template, args, lm=value.lm)
        start = time.perf_counter()
        result = _run_method(value, args)
    result["seconds"] = round(time.perf_counter() - start, 2)
    from . import __version__

    result.update(model=value.lm.name, unit=args.unit, target=value.target_text_,
                  method=args.method, template=template, spexlearn_version=__version__)
    print(_json_text(result) if args.json else _table(result))
    return EXIT_OK


# --------------------------------------------------------------------- cite
def run_cite(args: argparse.Namespace) -> int:
    from .segment import segment

    if not args.context.is_file():
        raise InputError(f"--context {args.context}: no such file.")
    context = _utf8(f"--context {args.context}", args.context.read_bytes).strip()
    if not context:
        raise InputError(f"--context {args.context} is empty: give a text to cite from.")
    if not args.question.strip():
        raise InputError("--question is empty: give the question to answer from the context.")
    n_parts = len(segment(context, args.unit))
    if n_parts < 2:
        raise InputError(f"the context has {n_parts} {args.unit}: there is nothing to cite "
                         "among; give a longer context or a finer --unit.")
    _check_device(args.device)
    from .ablation import RecordMismatchError

    template = CITE_TEMPLATE.replace("{question}", args.question.strip())
    cited = _answer_ablation(context, template, args)
    try:
        result, explainers = _cite_each_sentence(cited, template, args)
    except RecordMismatchError:
        # As for explain: what was read under the record is dropped, and it starts over.
        _progress(args, "the cache's record belongs to another model: starting over")
        cited = _answer_ablation(context, template, args, lm=cited.lm)
        result, explainers = _cite_each_sentence(cited, template, args)
    if args.report is not None:
        from .report import write_cite_report

        path = write_cite_report(args.report, cited, explainers)
        _progress(args, f"report written to {path}")
        result["report"] = str(path)
    print(_json_text(result) if args.json else _cite_text(result))
    return EXIT_OK


def _answer_ablation(context: str, template: str, args: argparse.Namespace, lm=None):
    """The answer's value functions; with ``--cache``, ones whose model loads only when a
    value is missing from the cache, if an earlier run left its record there."""
    from .ablation import AnswerAblation

    settings = {"unit": args.unit, "template": template, "answer": args.answer,
                "output": args.value, "max_new_tokens": CITE_MAX_NEW_TOKENS}
    record_path = _record_path(args, context, {"kind": "cite", **settings})
    record = _read_record(record_path, answer=True) if lm is None else None
    if record is not None:
        _progress(args, f"the model's answer comes from the cache {args.cache}; the model "
                  "loads only if a value is missing")
        return AnswerAblation.deferred(lambda: _load_missing(args), record, context,
                                       **settings, cache=args.cache,
                                       progress=not args.quiet)
    if lm is None:
        _progress(args, "loading the model...")
        lm = _loaded_model(args)
    if args.answer is None:
        _progress(args, "the model writes its answer from the full context...")
    try:
        cited = AnswerAblation(lm, context, **settings, cache=args.cache,
                               progress=not args.quiet)
    except ValueError as error:
        raise InputError(f"{error}") from error
    if record_path is not None:
        _write_record(record_path, cited.record())
    return cited


def _cite_each_sentence(cited, template: str, args: argparse.Namespace
                        ) -> tuple[dict, list]:
    """Each answer sentence explained from the same queries: the result, the explainers."""
    from . import ProxySPEXExplainer, __version__

    spans = cited.spans()
    if not spans:
        raise InputError("the answer has no sentence to cite; give one with --answer.")
    budget = min(args.budget, 2**cited.n_components)
    _progress(args, f"answer: {cited.answer_!r} ({len(spans)} sentences); "
              f"{cited.n_components} {args.unit}s of context")
    start = time.perf_counter()
    fits = None if args.cache is None else args.cache / "fits"
    explainers, sentences = [], []
    for k, span in enumerate(spans):
        if k == 1:
            _progress(args, "the other sentences reuse the same queries")
        queries = _Queries(span)
        explainer = _fit(ProxySPEXExplainer(queries, components=cited.component_names,
                                            budget=budget, max_order=args.max_order,
                                            random_state=args.seed, fit_cache=fits), queries)
        explainers.append(explainer)
        sentences.append(_cited_sentence(span, explainer, cited, args.top))
    result = {"answer": cited.answer_, "question": args.question, "unit": args.unit,
              "value": args.value, "components": cited.component_names,
              "queries": max(e.n_queries_ for e in explainers),
              "model_queries": cited.n_queried_,
              "seconds": round(time.perf_counter() - start, 2), "sentences": sentences,
              "model": cited.lm.name, "template": template, "spexlearn_version": __version__}
    return result, explainers


def _cited_sentence(span, explainer, cited, top: int) -> dict:
    """A sentence's strongest single sources and source pairs (Möbius), by magnitude."""
    terms = explainer.interactions(index="mobius", order=2)

    def listed(order: int) -> list[dict]:
        chosen = [(s, v) for s, v in terms.top(len(terms)) if len(s) == order][:top]
        return [{"components": list(s), "text": [cited.component_names[i] for i in s],
                 "value": float(v)} for s, v in chosen]

    return {"text": span.text, "tokens": list(span.tokens),
            "faithfulness_estimate": explainer.faithfulness_,
            "sources": listed(1), "pairs": listed(2)}


def _cite_text(result: dict) -> str:
    lines = [f"answer: {result['answer']}", ""]
    for k, sentence in enumerate(result["sentences"], 1):
        lines.append(f"[{k}] {sentence['text']}   (faithfulness R² "
                     f"{sentence['faithfulness_estimate']:.2f})")
        for kind, label in (("sources", "source"), ("pairs", "pair")):
            for term in sentence[kind]:
                names = " × ".join(_clip(t, 60) for t in term["text"])
                lines.append(f"    {term['value']:+8.3f}  {label:6s} {names}")
        lines.append("")
    lines.append(f"{result['queries']} queries shared by {len(result['sentences'])} "
                 f"sentences in {result['seconds']} s; values: {result['value']} of each "
                 "sentence (Möbius terms: a pair's value is what the two add together "
                 "beyond what each adds alone)")
    return "\n".join(lines)


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def read_text(text: str | None, file: Path | None) -> str:
    """The text from the argument, a file or stdin, checked to be non-empty."""
    if text is not None and file is not None:
        raise InputError("give the text either as an argument or with --file, not both.")
    if file is not None:
        if not file.is_file():
            raise InputError(f"--file {file}: no such file.")
        text = _utf8(f"--file {file}", file.read_bytes)
    elif text is None or text == "-":
        if sys.stdin is None or sys.stdin.isatty():
            raise InputError("no text: pass it as an argument, with --file, or on stdin.")
        stdin = getattr(sys.stdin, "buffer", None)
        text = _utf8("standard input", stdin.read) if stdin else sys.stdin.read()
    if not text.strip():
        raise InputError("the text is empty: give a text with at least one word.")
    return text.strip()


def _utf8(source: str, read) -> str:
    """The bytes that ``read()`` returns, decoded as UTF-8, whatever the locale says."""
    data = read()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise InputError(
            f"{source} is not UTF-8 text (byte 0x{data[error.start]:02x} at position "
            f"{error.start}): convert it first, e.g. iconv -f latin1 -t utf-8."
        ) from None


def prompt_template(question: str | None, template: str | None) -> str:
    if template is not None:
        if "{text}" not in template:
            raise InputError("--template must contain {text} where the text goes.")
        return template
    return "{text}" if not question else "{text}\n" + question


def _loaded_model(args: argparse.Namespace):
    """The model; under --quiet, without the bars that loading it draws."""
    if not args.quiet:
        return _load_model(args.model, args.device)
    # transformers draws its GGUF-conversion and weight-loading bars with tqdm, which
    # writes to the sys.stderr of the moment; errors still surface as exceptions.
    with contextlib.redirect_stderr(io.StringIO()):
        return _load_model(args.model, args.device)


def _load_model(path: Path | None, device: str):
    from .lm import load_default_lm, load_lm

    if path is None:
        return load_default_lm(device=device)
    try:
        return load_lm(path, device=device)
    except ValueError as exc:  # the folder given is unusable (e.g. it ships its own code)
        raise InputError(str(exc)) from exc


def _check_device(device: str) -> None:
    """Refuse a device torch cannot use before the model loads, not after it."""
    if device == "cpu":
        return  # always there: no need to import torch to know
    import torch

    try:
        kind = torch.device(device)
    except (RuntimeError, ValueError) as error:
        raise InputError(f"--device {device!r} is not a torch device ({error}); use cpu, "
                         "cuda, cuda:N or mps.") from None
    if kind.type == "cuda":
        _check_cuda(torch, device, kind.index)
    elif kind.type == "mps" and not torch.backends.mps.is_available():
        raise InputError(f"--device {device}: MPS (an Apple GPU) is not available here; "
                         "use --device cpu.")


def _check_cuda(torch, device: str, index: int | None) -> None:
    if not torch.cuda.is_available():
        why = ("this torch was built without CUDA" if torch.version.cuda is None
               else "torch finds no CUDA GPU")
        raise InputError(f"--device {device}: CUDA is not available ({why}); use --device "
                         "cpu, or run on a machine with a GPU and a CUDA build of torch.")
    count = torch.cuda.device_count()
    if index is not None and index >= count:
        raise InputError(f"--device {device}: this machine has {count} CUDA device(s), "
                         f"cuda:0 to cuda:{count - 1}; pick one of them.")


def _run_method(value, args: argparse.Namespace) -> dict:
    if args.method == "greedy":
        return _run_greedy(value, args)
    return _run_explainer(value, args)


def _text_ablation(text: str, template: str, args: argparse.Namespace, lm=None):
    """The value function; with ``--cache``, one whose model loads only when a value is
    missing from the cache, if an earlier run left its record there."""
    from .ablation import TextAblation

    target = args.target if args.versus is None else (args.target, args.versus)
    settings = {"unit": args.unit, "template": template, "target": target,
                "masking": args.masking, "placeholder": args.placeholder,
                "max_new_tokens": MAX_NEW_TOKENS}
    record_path = _record_path(args, text, settings)
    record = _read_record(record_path) if lm is None else None
    if record is not None:
        value = TextAblation.deferred(lambda: _load_missing(args), record, text, **settings,
                                      progress=not args.quiet)
        _progress(args, f"the model's answers come from the cache {args.cache}; the model "
                  "loads only if one is missing")
    else:
        if lm is None:
            _progress(args, "loading the model...")
            lm = _loaded_model(args)
        if target is None:
            _progress(args, f"the model writes its answer to the full text (at most "
                      f"{MAX_NEW_TOKENS} tokens)...")
        try:
            value = TextAblation(lm, text, **settings, progress=not args.quiet)
        except ValueError as error:
            # Refused before any query: the input is at fault (a prompt longer than the
            # model's context, an empty target or greedy answer), not the explanation.
            raise InputError(f"{error}") from error
        if record_path is not None:
            _write_record(record_path, value.record())
    if args.cache is not None:
        args.cache.mkdir(parents=True, exist_ok=True)
        value.cache = args.cache / f"{value.fingerprint()}.cache"
    return value


def _load_missing(args: argparse.Namespace):
    _progress(args, "a value is missing from the cache: loading the model...")
    return _loaded_model(args)


# The layout of the records that --cache keeps beside the values (see _record_path).
_RECORD_FORMAT = 1


def _record_path(args: argparse.Namespace, text: str, settings: dict) -> Path | None:
    """Where ``--cache`` keeps the record of a run's value function: its cache key, the
    model's name and answer, keyed by everything that determines them without loading the
    model (the model's files and the libraries' versions, the device, the text and the
    settings). None without --cache, or without a model to key it by."""
    if args.cache is None:
        return None
    import hashlib

    from .lm import model_source, source_key

    try:
        source = source_key(*model_source(args.model))
    except OSError:  # no model there: it fails to load as before
        return None
    request = {"format": _RECORD_FORMAT, "model": source, "device": args.device,
               "text": text, **settings}
    key = hashlib.sha256(json.dumps(request, sort_keys=True).encode()).hexdigest()[:16]
    return args.cache / f"{key}.record.json"


def _read_record(path: Path | None, *, answer: bool = False) -> dict | None:
    """The record at ``path`` if it is whole and the values it names are there; else
    None (the model is then loaded as without a record).

    ``answer``: the record of ``cite``'s answer, whose values lie in one file per answer
    span; it must hold the answer and its tokens' character spans.
    """
    if path is None:
        return None
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        fingerprint = record["fingerprint"]
        valid = (record.get("format") == _RECORD_FORMAT and isinstance(fingerprint, str)
                 and isinstance(record["model"], str)
                 and isinstance(record["target_text"], (str, list))
                 and all(isinstance(ids, list) and ids and
                         all(isinstance(i, int) for i in ids) for ids in record["targets"]))
        if answer:
            valid = valid and isinstance(record["answer"], str) and all(
                len(span) == 2 and all(isinstance(i, int) for i in span)
                for span in record["token_spans"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    values = answer or (path.parent / f"{fingerprint}.cache").is_file()
    return record if valid and values else None


def _write_record(path: Path, record: dict) -> None:
    """Written whole under another name, then renamed; a failure costs a rerun only the
    model's loading."""
    partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial.write_text(json.dumps({"format": _RECORD_FORMAT, **record}), "utf-8")
        os.replace(partial, path)
    except OSError:
        with contextlib.suppress(OSError):
            partial.unlink()


class _Queries:
    """The value function, noting whether the explainer has queried it yet.

    An explainer checks its settings (the budget's minimum, the memory a fit needs)
    before its first query, so what it refuses then is an argument to change (exit 2);
    what fails after that is the explanation itself (exit 1).
    """

    def __init__(self, value, announce=None):
        self.value = value
        self.started = False
        self.announce = announce

    def __call__(self, masks):
        self.started = True
        values = self.value(masks)
        if self.announce is not None:  # the fit that follows takes seconds, in silence
            self.announce(f"{len(values)} values in hand; fitting and cross-validating the "
                          "surrogate...")
        return values


def _fit(explainer, queries: _Queries):
    try:
        return explainer.fit()
    except (ValueError, MemoryError) as error:
        if queries.started:
            raise
        raise InputError(f"{error}") from error


def _run_explainer(value, args: argparse.Namespace) -> dict:
    import numpy as np

    from . import ProxySPEXExplainer, SPEXExplainer

    n = value.n_components
    budget = args.budget
    if budget > 2**n:  # a budget that covers every mask queries every mask
        budget = 2**n
        _progress(args, f"budget {args.budget} > the {budget} possible masks: querying all")
    kind = SPEXExplainer if args.method == "spex" else ProxySPEXExplainer
    queries = _Queries(value, announce=lambda message: _progress(args, message))
    # With --cache, fitted surrogates are kept too: a rerun on cached values refits nothing.
    fits = None if args.cache is None else args.cache / "fits"
    explainer = _fit(kind(queries, components=value.component_names, budget=budget,
                          max_order=args.max_order, random_state=args.seed,
                          fit_cache=fits), queries)
    _progress(args, f"{explainer.n_queries_} queries; {len(explainer.interactions_)} terms")
    exact = _every_mask_queried(explainer, n)
    # ProxySPEX's draws start with both (no extra query); elsewhere they cost at most two.
    ends = value(np.array([np.ones(n), np.zeros(n)], dtype=np.uint8))
    shapley = explainer.interactions(index="shapley")
    result = {"components": value.component_names, "queries": explainer.n_queries_,
              "budget": budget, "seed": args.seed,
              "full_value": float(ends[0]), "empty_value": float(ends[1]), "exact": exact,
              "max_order": args.max_order,
              "shapley": [shapley[i] for i in range(n)],
              "faithfulness_estimate": explainer.faithfulness_,
              "faithfulness_estimate_method": explainer.faithfulness_method_,
              "surrogate": explainer.selected_surrogate_}
    # With every mask queried no mask is left to hold out: the fit's R² is over all.
    if args.holdout and not exact:
        held_out = np.random.default_rng(args.seed + 1).integers(0, 2, size=(args.holdout, n))
        result["faithfulness_r2"] = float(explainer.score(held_out, value(held_out)))
        result["holdout"] = args.holdout
    if args.report is not None:
        from .report import write_report

        path = write_report(args.report, explainer, value, index=args.index, top=args.top,
                            faithfulness=result.get("faithfulness_r2"),
                            holdout=result.get("holdout"))
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


def _every_mask_queried(explainer, n: int) -> bool:
    return explainer.n_queries_ >= 2**n


def _run_greedy(value, args: argparse.Namespace) -> dict:
    from . import GreedyAblationExplainer

    # With a label contrast, stop at the smallest set found that flips the label.
    threshold = 0.0 if args.versus is not None else None
    queries = _Queries(value)
    explainer = _fit(GreedyAblationExplainer(queries, components=value.component_names,
                                             budget=args.budget, threshold=threshold), queries)
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


def _json_text(result: dict) -> str:
    """Strict JSON: a NaN or infinite number (a fit on values near 1e300) becomes null,
    which every JSON reader accepts, where ``NaN`` would break them."""
    return json.dumps(_finite_or_null(result), indent=2, allow_nan=False,
                      default=_json_default)


def _finite_or_null(value):
    import math

    import numpy as np

    if isinstance(value, dict):
        return {key: _finite_or_null(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite_or_null(item) for item in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, np.generic):
        return _finite_or_null(value.item())
    return value


def _json_default(value):
    import numpy as np

    if isinstance(value, np.generic):
        return value.item()
    return str(value)


# ------------------------------------------------------------------ output
# Components shown by their own effect above the interactions table.
_OWN_EFFECTS_SHOWN = 8
_BAR_CELLS = 12  # cells on each side of an own-effect bar's centre line


def _table(result: dict) -> str:
    target = result["target"]
    target = " vs ".join(map(repr, target)) if isinstance(target, tuple) else repr(target)
    lines = [
        f"model: {result['model']}",
        f"target: {target}   value with every {result['unit']} kept: "
        f"{_number(result['full_value'])}",
        f"{result['method']}: {result['queries']} queries in {result['seconds']:.0f} s",
        *_faithfulness_lines(result),
        *_own_effect_lines(result),
        "",
    ]
    greedy = result["index"] == "greedy"
    header = ("step", "value after", "change") if greedy else ("rank", result["index"], "order")
    lines.append(f"{header[0]:>4}  {header[1]:>11}  {header[2]:>6}  components")
    width = _terminal_width() - 30
    for rank, row in enumerate(result["interactions"], 1):
        third = _number(row["gain"], 6) if greedy else f"{len(row['components']):>6}"
        lines.append(f"{rank:>4}  {_number(row['value'], 11)}  {third}  "
                     f"{_components_text(row['text'], width)}")
    if not result["interactions"]:
        lines.append("      (no interaction found)")
    if not greedy:
        lines.extend(_legend_lines(result))
    return "\n".join(lines)


# What each index's value means, in a line under the table.
_INDEX_MEANINGS = {
    "mobius": "what the components add together beyond what each smaller group of them "
              "adds, starting from the prompt with every {unit} removed",
    "fourier": "the term's coefficient in the surrogate's Fourier expansion, where a "
               "{unit} counts +1 removed and -1 kept (so a positive one-{unit} term lowers "
               "the value when the {unit} is kept)",
    "shapley": "each component's fair share of the change from no {unit} to every {unit}",
    "banzhaf": "each component's average effect over random masks",
    "sii": "Shapley interaction index: a group's extra effect together, averaged over the "
           "orders in which {unit}s could be added",
    "bii": "Banzhaf interaction index: a group's extra effect together, averaged over "
           "random masks",
    "stii": "Shapley-Taylor index: all values add up to the change from no {unit} kept to "
            "every {unit} kept",
    "fsii": "Faith-Shap: the interactions up to the order closest to the model in the "
            "Shapley-weighted least-squares sense",
    "fbii": "Faith-Banzhaf: the interactions up to the order that best fit the model over "
            "random masks",
    "ksii": "k-Shapley values (shapiq's default): interactions up to the order, adding up "
            "to the change from no {unit} kept to every {unit} kept",
}


def _value_text(result: dict) -> str:
    """The value being explained, in words."""
    target = result["target"]
    if isinstance(target, (tuple, list)):
        return f"log p({target[0]!r}) − log p({target[1]!r})"
    return f"log p({target!r})"


def _own_effect_lines(result: dict) -> list[str]:
    """Each component's own effect (Shapley value), strongest first: what shap and captum
    users look for first, before any interaction."""
    if "shapley" not in result:
        return []
    unit = result["unit"]
    ranked = sorted(zip(result["components"], result["shapley"], strict=True),
                    key=lambda item: -abs(item[1]))[:_OWN_EFFECTS_SHOWN]
    total = _number(result["full_value"] - result["empty_value"])
    n = len(result["components"])
    names = [repr(_shorten(name, 20)) for name, _ in ranked]
    width = max(len(name) for name in names)
    largest = max(abs(value) for _, value in ranked) or 1.0
    rows = [f"  {name:<{width}}  {_number(value)}  {_diverging_bar(value / largest)}"
            for name, (_, value) in zip(names, ranked, strict=True)]
    return ["", *_wrapped(f"each {unit}'s own share of {_value_text(result)}, the {len(rows)} "
                          f"largest (Shapley values; all {n} add up to {total}, the change "
                          f"from no {unit} kept to every {unit} kept; bars: left lowers it, "
                          "right raises it):"),
            *rows]


def _diverging_bar(share: float) -> str:
    """A bar around a centre line: left for a negative share of the largest, right for a
    positive one, so signs read at a glance as in shap's bar plots."""
    cells = round(abs(share) * _BAR_CELLS)
    left = "█" * cells if share < 0 else ""
    right = "█" * cells if share > 0 else ""
    return f"{left:>{_BAR_CELLS}}│{right}"


def _legend_lines(result: dict) -> list[str]:
    """What the values mean, and the strongest interaction in plain words."""
    index, unit = result["index"], result["unit"]
    meaning = _INDEX_MEANINGS.get(index, "see the user guide's interaction indices")
    lines = ["", *_wrapped(f"{index}: {meaning.format(unit=unit)}; in units of "
                           f"{_value_text(result)}.")]
    numbered = next((name for name in result["components"]
                     if "#" in name and name.rsplit("#", 1)[1].isdigit()), None)
    if numbered is not None:
        word, count = numbered.rsplit("#", 1)
        lines.extend(_wrapped(f"{numbered!r} is occurrence {count} of {word!r} in the text: a "
                              f"repeated {unit} is numbered from its second occurrence on."))
    pairs = [row for row in result["interactions"] if len(row["components"]) >= 2]
    if index == "mobius" and pairs:
        top = pairs[0]
        names = " and ".join(repr(name) for name in top["text"])
        change = "adds" if top["value"] >= 0 else "takes away"
        lines.extend(_wrapped(f"e.g. keeping {names} together {change} "
                              f"{_number(abs(top['value'])).lstrip('+')} beyond what they "
                              "add apart."))
    return lines


def _wrapped(text: str, indent: str = "") -> list[str]:
    import textwrap

    return textwrap.wrap(text, width=_terminal_width(), initial_indent=indent,
                         subsequent_indent=indent, break_on_hyphens=False)


def _number(value: float, width: int = 0) -> str:
    """Three decimals, or three significant digits where that would run past a line."""
    text = f"{value:+.3f}" if abs(value) < 1e6 else f"{value:+.3g}"
    return f"{text:>{width}}"


def _faithfulness_lines(result: dict) -> list[str]:
    """How far to trust the explanation: exact, or the estimate from the queries and the
    check on fresh masks."""
    if result.get("exact"):
        return [_exact_line(result)]
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


def _exact_line(result: dict) -> str:
    n = len(result["components"])
    r2 = result["faithfulness_estimate"]
    line = (f"exact: every one of the 2^{n} = {2**n} masks was queried (none left to hold "
            f"out); R² {r2:.3f} over all of them")
    if r2 < 1 - 1e-9:
        line += f" (the rest lies in terms above --max-order {result['max_order']})"
    return line


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
