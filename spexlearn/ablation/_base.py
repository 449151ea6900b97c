"""What every value function shares: distinct masks, an on-disk cache, batches, progress, workers.

A value function maps masks ``(m, n)`` (1 = kept) to values ``(m,)``. The base class
computes only the distinct masks it does not know yet, in batches cut at content-defined
boundaries (so a resumed run computes each mask in the batch an uninterrupted one would),
appends every finished batch to an optional cache file, and spreads batches over Ray actors
on request.
"""

from __future__ import annotations

import errno
import hashlib
import inspect
import json
import os
import reprlib
import zlib
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from ..masks import check_masks, row_keys

__all__ = ["Ablation", "MaskCache", "ValueFunctionError"]

BACKENDS = ("local", "ray")
# The settings every ablation takes (besides ``cache``): a repr names them only where set
# to something else than the constructor's default.
_SHARED_SETTINGS = ("batch_size", "progress", "backend", "n_workers", "repeats")
_CACHE_FORMAT = 2


class Ablation:
    """Base of the ablation value functions (``masks -> values``).

    Subclasses set ``component_names`` and implement ``_evaluate(masks)`` for a batch of
    distinct masks, and ``_fingerprint()``: the settings that determine the values (a
    cache file written under other settings is refused). What reports and plots read
    of a value function is declared here: ``segmentation`` (a
    :class:`~spexlearn.segment.Segmentation` where the components are spans of one input,
    else None) and ``describe()`` (the value in words). ``repr`` names the class, the
    number of components, the key settings (``_repr_settings()``, which a subclass may
    override), the cache, and any shared setting away from its default.

    Parameters
    ----------
    cache : str, Path or None
        A file that keeps every computed value. An interrupted run that is started again
        with the same file queries nothing twice. Any number of runs may share one file
        at once (processes, threads, objects): none loses or damages another's values,
        and each takes up what the others computed. None: values live in memory only.
    batch_size : int
        Masks per batch handed to ``_evaluate`` (about that many; cut at content-defined
        boundaries). The progress bar moves once per batch, so the subclasses' defaults keep
        a batch to a second or two on 2 CPU cores.
    progress : bool
        Show a progress bar while computing.
    backend : {"local", "ray"}
        "ray": batches go to ``n_workers`` Ray actors, each holding its own copy of the
        value function (a language model reloads once per actor). Starts a local Ray
        instance unless one is running (``ray.init(address=...)`` first for a cluster).
    n_workers : int or None
        Ray actors (None: 2).
    repeats : int, default=1
        Evaluate every mask this many times and keep the mean: for stochastic models
        (sampling, dropout, nondeterministic kernels). The spread gives ``noise_std_``.
    """

    component_names: list[str]

    def __init__(self, *, cache=None, batch_size=32, progress=True, backend="local",
                 n_workers=None, repeats=1):
        if backend not in BACKENDS:
            raise ValueError(f"backend={backend!r} is unknown; choose one of {BACKENDS}.")
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}.")
        if not isinstance(repeats, int) or repeats < 1:
            raise ValueError(f"repeats must be a positive integer, got {repeats!r}.")
        self.repeats = repeats
        self._noise_sum, self._noise_count = 0.0, 0
        self.cache = cache
        self.batch_size = batch_size
        self.progress = progress
        self.backend = backend
        self.n_workers = n_workers
        self._memory: dict[bytes, float] = {}
        self._store: MaskCache | None = None
        self.n_evaluated_ = 0

    # ------------------------------------------------------------- protocol
    @property
    def n_components(self) -> int:
        return len(self.component_names)

    # Where the components are spans of one input (text): its Segmentation.
    segmentation = None

    def describe(self) -> dict[str, str]:
        """The value in words, for reports: any of ``"model"``, ``"value"`` and
        ``"prompt"`` that the value function can name (none by default)."""
        return {}

    def __sklearn_clone__(self):
        # Cloning an explainer must not copy (or reload) a model.
        return self

    def __repr__(self) -> str:
        """The class, ``n_components``, the key settings (:meth:`_repr_settings`), the
        cache, and the shared settings that differ from their defaults."""
        settings: dict[str, object] = {}
        if hasattr(self, "component_names"):
            settings["n_components"] = self.n_components
        settings.update(self._repr_settings())
        settings["cache"] = getattr(self, "cache", None)
        defaults = _keyword_defaults(type(self))
        for name in _SHARED_SETTINGS:
            value = getattr(self, name, defaults.get(name))
            if name in defaults and value != defaults[name]:
                settings[name] = value
        # A long setting is shortened, never the cache's path: it is where the values are.
        shown = ", ".join(f"{name}={repr(value) if name == 'cache' else _short_repr(value)}"
                          for name, value in settings.items())
        return f"{type(self).__name__}({shown})"

    def _repr_settings(self) -> dict[str, object]:
        """The settings ``repr`` names after ``n_components`` (override to choose).

        By default: the subclass's own keyword-only constructor parameters that are kept
        as attributes of the same name and hold a plain value (a string, number or bool;
        None is left out), in the constructor's order.
        """
        settings = {}
        for name in _keyword_defaults(type(self)):
            if name in _SHARED_SETTINGS or name == "cache":
                continue
            value = getattr(self, name, None)
            if isinstance(value, np.generic):
                value = value.item()
            if isinstance(value, (str, int, float)):  # bool is an int
                settings[name] = value
        return settings

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_store"] = None
        state["_memory"] = {}
        return state

    def _evaluate(self, masks: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _fingerprint(self) -> dict:
        raise NotImplementedError

    def _prepare(self) -> None:
        """Called before values are computed (not when all come from memory or the
        cache): a subclass loads here what only computing needs, such as its model."""

    def fingerprint(self) -> str:
        """A hash of the settings that determine the values."""
        settings = self._fingerprint()
        if self.repeats != 1:  # a cached value is then the mean of that many queries
            settings = {**settings, "repeats": self.repeats}
        text = json.dumps(settings, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    # ---------------------------------------------------------------- call
    def __call__(self, masks) -> np.ndarray:
        masks = check_masks(masks, self.n_components, allow_empty=True)
        keys = row_keys(masks)
        distinct, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
        self._sync_store()
        values = self._values_of(masks[first], distinct, first)
        return values[inverse.reshape(-1)]

    def _sort_key(self, masks: np.ndarray) -> np.ndarray | None:
        """Optional order of the distinct masks before batching (e.g. by prompt length)."""
        return None

    def _values_of(self, masks: np.ndarray, keys: np.ndarray, rows: np.ndarray) -> np.ndarray:
        sort_key = self._sort_key(masks)
        order = np.arange(len(keys)) if sort_key is None else np.argsort(sort_key, kind="stable")
        missing = order[[bytes(keys[i]) not in self._memory for i in order]]
        if len(missing):
            self._prepare()
        todo = content_batches(missing, keys, self.batch_size)
        n_todo, finished = len(missing), 0
        with tqdm(total=n_todo, disable=not self.progress or n_todo == 0,
                  desc=type(self).__name__, unit="mask") as bar:
            try:
                for batch, values in self._run(masks, todo, keys):
                    if values is not None:  # None: another writer of the cache computed it
                        self._remember(masks[batch], keys[batch], values)
                    bar.update(len(batch))
                    finished += 1
            except _BadValues as bad:
                raise ValueFunctionError(self._failure(
                    f"it returned {bad.problem} for the masks in rows "
                    f"{_some(rows[bad.batch[bad.positions]])} of the request",
                    finished, len(todo))) from None
            except _CacheWriteError as error:
                raise ValueFunctionError(self._failure(
                    f"its values were computed, but writing them to the cache failed "
                    f"({type(error.cause).__name__}: {error.cause})", finished, len(todo),
                )) from error.cause
            except Exception as exc:
                raise ValueFunctionError(self._failure(
                    f"{type(exc).__name__}: {exc}", finished, len(todo))) from exc
        return np.array([self._memory[bytes(k)] for k in keys])

    def _failure(self, what: str, finished: int, total: int) -> str:
        kept = len(self._memory)
        if self._store is None:
            where = (f"All {kept} values computed so far are kept in this object's memory "
                     "only (pass cache='FILE' to keep them on disk)")
        else:
            # Read back what the file holds: after a failed write it is not everything.
            on_disk = self._store.keys_on_disk()
            if on_disk is None:
                where = (f"The {kept} values computed so far are kept in this object's "
                         f"memory; the cache {self.cache} cannot be read back, so how many "
                         "of them are on disk is unknown")
            elif on_disk.issuperset(self._memory):
                where = f"All {kept} values computed so far are kept in the cache {self.cache}"
            else:
                lost = len(set(self._memory) - on_disk)
                where = (f"{len(on_disk)} values are on disk in the cache {self.cache}; "
                         f"{lost} more computed so far are kept in this object's memory "
                         "only (a new run computes them again; free disk space first)")
        return (f"{type(self).__name__} failed on batch {finished + 1} of {total}: {what}. "
                f"{where}; call it again with the same masks to resume from the failed "
                "batch.")

    def _run(self, masks: np.ndarray, batches: list[np.ndarray], keys: np.ndarray):
        if self.backend == "ray" and batches:
            yield from _run_on_ray(self, masks, batches)
            return
        for batch in batches:
            # Another writer of the same cache may have computed this whole batch by now.
            if all(bytes(keys[i]) in self._memory for i in batch):
                yield batch, None
                continue
            yield batch, self._repeated(masks[batch], batch)

    def _repeated(self, masks: np.ndarray, batch: np.ndarray) -> np.ndarray:
        """The mean of ``repeats`` evaluations; their spread feeds ``noise_std_``."""
        runs = [self._checked(self._evaluate(masks), batch) for _ in range(self.repeats)]
        if self.repeats > 1:
            self._noise_sum += float(np.var(runs, axis=0, ddof=1).sum())
            self._noise_count += len(batch)
        return np.mean(runs, axis=0)

    @property
    def noise_std_(self) -> float | None:
        """Standard deviation of one query's value, from the spread of repeated queries.

        None until masks were evaluated with ``repeats`` > 1 (in this process: the cache
        keeps only the means).
        """
        if not self._noise_count:
            return None
        return float(np.sqrt(self._noise_sum / self._noise_count))

    def _checked(self, values, batch: np.ndarray) -> np.ndarray:
        try:
            values = np.asarray(values, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise _BadValues(f"values that are not numbers ({exc})", batch,
                             np.arange(len(batch))) from None
        if values.shape != (len(batch),):
            raise _BadValues(f"shape {values.shape} instead of ({len(batch)},)", batch,
                             np.arange(len(batch)))
        bad = np.flatnonzero(~np.isfinite(values))
        if bad.size:
            raise _BadValues(f"{bad.size} NaN or infinite values", batch, bad)
        return values

    def _remember(self, masks, keys, values) -> None:
        for key, value in zip(keys, values, strict=True):
            self._memory[bytes(key)] = float(value)
        self.n_evaluated_ += len(values)
        if self._store is not None:
            try:
                others = self._store.append(masks, values)
            except OSError as exc:  # a full disk: the values stay in memory only
                raise _CacheWriteError(exc) from exc
            self._merge(others)

    def _merge(self, records: dict[bytes, float]) -> None:
        # Values other writers of the cache computed; this object's own ones stay.
        for key, value in records.items():
            self._memory.setdefault(key, value)

    def _sync_store(self) -> None:
        """Open the cache on first use; later, read what other writers appended since."""
        if self.cache is None:
            return
        if self._store is None:
            self._store = MaskCache(self.cache, self.n_components, self.fingerprint())
            self._memory.update(self._store.load())
        else:
            self._merge(self._store.refresh())


class ValueFunctionError(RuntimeError):
    """A value function failed, or returned values that cannot be used, on some batch.

    The message names the batch and the offending masks; every value computed before it
    is kept (in the cache file, if any), so calling again resumes from the failed batch.
    """


class _CacheWriteError(Exception):
    """Writing computed values to the cache failed (``cause``: the OSError)."""

    def __init__(self, cause: OSError):
        super().__init__(str(cause))
        self.cause = cause


class _BadValues(Exception):
    def __init__(self, problem: str, batch: np.ndarray, positions: np.ndarray):
        super().__init__(problem)
        self.problem, self.batch, self.positions = problem, batch, positions


def _keyword_defaults(cls) -> dict[str, object]:
    """The keyword-only parameters of ``cls``'s constructor, with their defaults."""
    try:
        parameters = inspect.signature(cls.__init__).parameters.values()
    except (TypeError, ValueError):  # pragma: no cover (a constructor without a signature)
        return {}
    return {p.name: p.default for p in parameters if p.kind is p.KEYWORD_ONLY}


_SHORT = reprlib.Repr()
_SHORT.maxstring = _SHORT.maxother = 60


def _short_repr(value) -> str:
    """``repr(value)``, shortened with '...' beyond about 60 characters."""
    return _SHORT.repr(value)


def _some(rows: np.ndarray, limit: int = 10) -> str:
    shown = ", ".join(str(int(r)) for r in np.sort(rows)[:limit])
    return f"{shown}{', ...' if len(rows) > limit else ''} ({len(rows)} in all)"


def content_batches(order: np.ndarray, keys: np.ndarray, size: int) -> list[np.ndarray]:
    """Cut ``order`` into batches of about ``size`` masks at content-defined boundaries.

    A batch holds at least ``size // 2`` masks and ends before the next mask whose key
    hashes to a boundary. Every batch but the first starts at a boundary mask, so taking
    whole batches out of the list (those a crashed run finished, in any order) leaves the
    others cut exactly as before: a resumed run computes each remaining mask in the same
    batch, hence with the same padding and bit-identical values, as an uninterrupted one
    (for a language model: on the same CPU thread count, see ``spexlearn._threads``).
    """
    least = max(size // 2, 1)
    spacing = max(size - least, 1)
    boundary = [zlib.crc32(bytes(keys[i])) % spacing == 0 for i in order]
    batches, start = [], 0
    for position in range(1, len(order) + 1):
        if position == len(order) or (position - start >= least and boundary[position]):
            batches.append(order[start:position])
            start = position
    return batches


class MaskCache:
    """An append-only file of (mask, value) records, written one whole batch at a time.

    Layout: a JSON header line, then blocks of ``[count: uint32][crc32: uint32][count
    records]``, a record being the packed mask then a float64. Nothing in it is ever
    unpickled or evaluated.

    Any number of writers may share one file: processes, threads, Ray workers on one host,
    several objects in one process. Each append holds an exclusive lock (the file
    ``<path>.lock``, through filelock) while it reads whatever other writers appended
    since this object last looked, drops an unfinished tail, writes its block there and
    syncs it to disk; the records the others appended are returned, so their owner need
    not compute them again. Reading takes no lock: a writer cuts an unfinished tail off
    before it writes, so a reader sees valid blocks, then at most one unfinished one.

    Which damage is ignored and which is refused: blocks are read from the header on; a
    block is valid if it holds at least one record, ends within the file and matches its
    checksum. At the first block that is not valid, the rest of the file is an unfinished
    write (a crash, a full disk) if no valid block starts anywhere after it: it is
    ignored, and the next append overwrites it. If a valid block does start after it,
    the damage lies in the middle of the file (a flipped bit in a record count or in the
    records), and the file is refused as corrupt at that byte, counted from the start of
    the file: reading on would drop the blocks after it silently, and the next write
    would truncate them. Damage inside the last block cannot be told from an unfinished
    write; it costs only that block's values, which are computed again.

    Parameters
    ----------
    path : str or Path
        The cache file (created, with its folder, on the first :meth:`load`).
    n_components : int
        Length of every mask.
    fingerprint : str
        The settings of the value function; a file written under others is refused.
    timeout : float, default=600
        Seconds to wait for another writer's lock before giving up.
    """

    def __init__(self, path, n_components: int, fingerprint: str, *, timeout: float = 600.0):
        self.path = Path(path)
        self.n_components = n_components
        self.fingerprint = fingerprint
        self.timeout = timeout
        self._mask_bytes = (n_components + 7) // 8
        self._record = np.dtype([("mask", np.void, self._mask_bytes), ("value", "<f8")])
        self._valid_end: int | None = None
        self._lock = None

    def _header(self) -> bytes:
        header = {"spexlearn-cache": _CACHE_FORMAT, "n_components": self.n_components,
                  "fingerprint": self.fingerprint}
        return (json.dumps(header, sort_keys=True) + "\n").encode()

    @contextmanager
    def _locked(self):
        """Hold the exclusive lock shared by every writer of this file."""
        from filelock import FileLock, Timeout

        if self._lock is None:
            self._lock = FileLock(self.path.with_name(self.path.name + ".lock"),
                                  timeout=self.timeout)
        try:
            self._lock.acquire()
        except Timeout:
            raise TimeoutError(
                f"another process has held the lock on the cache file {self.path} for "
                f"{self.timeout:g} s: wait for it to finish, or delete "
                f"{self._lock.lock_file} if no spexlearn run uses this cache."
            ) from None
        try:
            yield
        finally:
            self._lock.release()

    def load(self) -> dict[bytes, float]:
        """Every complete record; creates the file (with its header) if it is missing."""
        if not self.path.exists():
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self._locked():  # another writer may create it at the same moment
                if not self.path.exists():
                    # Written whole under another name, then renamed: never a half header.
                    partial = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
                    partial.write_bytes(self._header())
                    os.replace(partial, self.path)
        data = self.path.read_bytes()
        header, _, body = data.partition(b"\n")
        self._check_header(header)
        records, self._valid_end = self._scan(body, len(header) + 1)
        return records

    def refresh(self) -> dict[bytes, float]:
        """The records other writers appended since this object last read or wrote."""
        if self._valid_end is None:
            return self.load()
        with open(self.path, "rb") as handle:
            return self._read_since(handle)

    def _read_since(self, handle) -> dict[bytes, float]:
        """The records after this object's last known end, in the open file ``handle``;
        the whole file again if it was truncated or replaced behind our back."""
        if handle.seek(0, os.SEEK_END) < self._valid_end:
            return self.load()
        handle.seek(self._valid_end)
        records, self._valid_end = self._scan(handle.read(), self._valid_end)
        return records

    def keys_on_disk(self) -> set[bytes] | None:
        """The masks (packed) the file holds now; None if it cannot be read."""
        try:
            data = self.path.read_bytes()
            header, _, body = data.partition(b"\n")
            return set(self._scan(body, len(header) + 1)[0])
        except (OSError, ValueError):
            return None

    def _check_header(self, line: bytes) -> None:
        try:
            header = json.loads(line)
        except ValueError as exc:
            raise ValueError(
                f"{self.path} is not a spexlearn cache file; choose another cache path."
            ) from exc
        expected = json.loads(self._header())
        if not isinstance(header, dict) or "spexlearn-cache" not in header:
            raise ValueError(
                f"{self.path} is not a spexlearn cache file; choose another cache path."
            )
        if header["spexlearn-cache"] != _CACHE_FORMAT:
            raise ValueError(
                f"the cache file {self.path} has format {header['spexlearn-cache']}, this "
                f"spexlearn reads format {_CACHE_FORMAT}: delete it or choose another path."
            )
        if header != expected:
            raise ValueError(
                f"the cache file {self.path} was written for another value function "
                f"({header.get('n_components')} components, settings "
                f"{header.get('fingerprint')}; now {self.n_components}, "
                f"{self.fingerprint}): delete it or choose another cache path."
            )

    def _scan(self, data: bytes, offset: int) -> tuple[dict[bytes, float], int]:
        """The records of the valid blocks at the start of ``data``, and where they end.

        ``data`` holds the file from byte ``offset`` (a block boundary) on; the returned
        end is a file position too. See the class docstring for what is refused.
        """
        records: dict[bytes, float] = {}
        position = 0
        while position < len(data):
            end = self._block_end(data, position)
            if end is None:
                later = self._next_valid_block(data, position + 1)
                if later is None:
                    break  # an unfinished write: ignored, then overwritten
                raise ValueError(
                    f"the cache file {self.path} is corrupt at byte {offset + position} "
                    "(a block fails its length or checksum check, and a valid block "
                    f"follows at byte {offset + later}, so it is not an unfinished last "
                    "write): delete it, or move it away and choose another cache path."
                )
            count = (end - position - 8) // self._record.itemsize
            block = np.frombuffer(data, self._record, count, position + 8)
            records.update(zip(map(bytes, block["mask"]), block["value"].tolist(), strict=True))
            position = end
        return records, offset + position

    def _block_end(self, data: bytes, position: int) -> int | None:
        """Where the block at ``position`` ends if it is valid, else None."""
        if position + 8 > len(data):
            return None
        count, checksum = np.frombuffer(data, "<u4", 2, position).tolist()
        end = position + 8 + count * self._record.itemsize
        if count == 0 or end > len(data) or zlib.crc32(data[position + 8 : end]) != checksum:
            return None
        return end

    def _next_valid_block(self, data: bytes, start: int) -> int | None:
        """The first position at or after ``start`` where a valid block begins, or None.

        Only positions whose record count fits in the file are checksummed; they are
        found a chunk at a time with NumPy, so a long damaged stretch is scanned quickly.
        """
        size = self._record.itemsize
        chunk = 1 << 20
        for first in range(start, len(data) - 8 + 1, chunk):
            last = min(first + chunk, len(data) - 8 + 1)
            raw = np.frombuffer(data, np.uint8, last - first + 3, first).astype(np.uint64)
            counts = (raw[:-3] | raw[1:-2] << np.uint64(8) | raw[2:-1] << np.uint64(16)
                      | raw[3:] << np.uint64(24))
            positions = np.arange(first, last, dtype=np.uint64)
            room = np.uint64(len(data)) - positions - np.uint64(8)
            for candidate in np.flatnonzero((counts >= 1) & (counts * np.uint64(size) <= room)):
                if self._block_end(data, first + int(candidate)) is not None:
                    return first + int(candidate)
        return None

    def append(self, masks: np.ndarray, values: np.ndarray) -> dict[bytes, float]:
        """Append one block of records; returns the records other writers added meanwhile.

        Raises ``OSError`` if the write fails (a full disk): the partial block is cut off
        again where possible, and nothing else on disk changes.
        """
        if self._valid_end is None:
            self.load()
        block = np.empty(len(values), self._record)
        block["mask"] = row_keys(masks)
        block["value"] = values
        data = block.tobytes()
        data = np.array([len(values), zlib.crc32(data)], "<u4").tobytes() + data
        with self._locked(), open(self.path, "r+b", buffering=0) as handle:
            others = self._read_since(handle)
            if not len(values):
                return others
            end = self._valid_end
            # Cut an unfinished tail off first: a crash in the middle of this write then
            # leaves one unfinished block at the end, never one followed by old bytes.
            handle.truncate(end)
            try:
                handle.seek(end)
                _write_all(handle, data)
                os.fsync(handle.fileno())
            except OSError:
                try:
                    handle.truncate(end)
                except OSError:
                    pass  # the unfinished block stays; readers ignore it
                raise
            self._valid_end = end + len(data)
        return others


def _write_all(handle, data: bytes) -> None:
    """Write every byte to an unbuffered file (a raw write may stop short)."""
    view = memoryview(data)
    while view:
        written = handle.write(view)
        if not written:
            raise OSError(errno.EIO, "the cache file accepted no more bytes")
        view = view[written:]


_RAY_RETRIES = 3


def _run_on_ray(ablation: Ablation, masks: np.ndarray, batches: list[np.ndarray]):
    """Yield (batch, values) as Ray actors finish them, each actor busy with one at a time.

    An actor that dies (its process killed, its node lost) is replaced by a new one and
    its batch is queued again, up to ``_RAY_RETRIES`` times per batch: the values are
    those of a run without the failure.
    """
    try:
        import ray
        from ray.exceptions import RayActorError
    except ImportError as exc:
        raise ImportError(
            "backend='ray' needs Ray: pip install 'spexlearn[distributed]' (or ray)."
        ) from exc
    if not ray.is_initialized():
        ray.init(include_dashboard=False, log_to_driver=False)
    worker_class = ray.remote(_Worker)
    workers = [worker_class.remote(ablation) for _ in range(ablation.n_workers or 2)]
    queue = [(batch, 0) for batch in batches]
    pending: dict = {}

    def submit(worker) -> None:
        batch, tries = queue.pop(0)
        pending[worker.evaluate.remote(masks[batch])] = (worker, batch, tries)

    for worker in workers:
        if queue:
            submit(worker)
    try:
        while pending:
            [done], _ = ray.wait(list(pending), num_returns=1)
            worker, batch, tries = pending.pop(done)
            try:
                values, noise_sum, noise_count = ray.get(done)
            except _BadValues as bad:  # the worker numbered its batch from 0
                raise _BadValues(bad.problem, batch, bad.positions) from None
            except RayActorError:
                if tries >= _RAY_RETRIES:
                    raise
                workers.remove(worker)
                worker = worker_class.remote(ablation)
                workers.append(worker)
                queue.insert(0, (batch, tries + 1))
                submit(worker)
                continue
            ablation._noise_sum += noise_sum
            ablation._noise_count += noise_count
            yield batch, values  # checked by the worker's _repeated
            if queue:
                submit(worker)
    finally:
        for worker in workers:
            ray.kill(worker)


class _Worker:
    """A Ray actor holding one copy of the value function."""

    def __init__(self, ablation: Ablation):
        self.ablation = ablation

    def evaluate(self, masks: np.ndarray) -> tuple[np.ndarray, float, int]:
        ablation = self.ablation
        before = ablation._noise_sum, ablation._noise_count
        values = ablation._repeated(masks, np.arange(len(masks)))
        return values, ablation._noise_sum - before[0], ablation._noise_count - before[1]
