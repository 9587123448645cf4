"""What every stage shares: a frozen config, explicit inputs, a result, a fingerprint, a cache folder.

A stage is a small class with a frozen ``Config`` dataclass and a ``Result``
dataclass. It is told its inputs when it is built (other stages' results, or values),
and ``Pipeline.run(stage)`` runs it with one progress line. Its fingerprint hashes the
stage's class, its config and its inputs' fingerprints (a chain: each result's
fingerprint stands for everything upstream of it) and tfkd's own source files, so
that a changed tfkd reruns everything. A result is saved into the
stage's folder under ``work_dir``: fields holding models, bytes or arrays as files,
the rest as ``record.json``, which also holds the fingerprint and is written last,
into a staging folder that replaces the old one by rename. A rerun whose stage has
the same fingerprint as the recorded one loads the result instead of running: a
``tfkd demo`` that was interrupted resumes at the first stage it had not finished.
"""

import dataclasses
import functools
import hashlib
import json
import os
import shutil
import tempfile
import time

import numpy as np

from tfkd import files

RECORD = "record.json"


@dataclasses.dataclass
class Context:
    """What a running stage may use besides its config and inputs."""

    folder: str  # where the stage writes its artifacts (a staging folder, renamed when the stage succeeds)
    verbose: int = 0  # Keras verbosity of training stages
    log: object = print


class Stage:
    """Base class: subclasses set ``name``, ``Config`` and ``Result`` and implement ``run``.

    ``cached = False`` marks stages that are cheap to run and whose result is not saved
    (loading data, taking a model given in memory); their fingerprint is that of their
    result's content (``content_fingerprint``).
    """

    name = None
    section = None  # key of its report section; None: its name
    Config = None
    Result = None
    cached = True

    def __init__(self, config=None, *, name=None, **inputs):
        if config is None:
            config = self.Config()
        if not isinstance(config, self.Config):
            raise TypeError(f"{type(self).__name__} takes a {self.Config.__qualname__}, got {type(config).__name__}")
        self.config = config
        self.inputs = inputs
        if name is not None:
            self.name = name

    def run(self, context):
        """Does the work and returns a ``Result``; artifacts other than the result's fields go in ``context.folder``."""
        raise NotImplementedError

    def note(self, result):
        """The end of the stage's progress line: what it achieved."""
        return ""

    def report(self, result):
        """The stage's section of ``report.json``; ``None`` when it has none."""
        return None

    def fingerprint(self):
        digest = hashlib.sha256(f"{type(self).__module__}.{type(self).__qualname__}".encode())
        digest.update(code_fingerprint().encode())
        digest.update(canonical_json(self.config).encode())
        for key in sorted(self.inputs):
            digest.update(f"|{key}=".encode())
            value = self.inputs[key]
            digest.update(getattr(value, "fingerprint", None).encode() if hasattr(value, "fingerprint")
                          else canonical_json(value).encode())
        return digest.hexdigest()

    def content_fingerprint(self, result):
        return self.fingerprint()


@functools.lru_cache(maxsize=1)
def code_fingerprint():
    """Hash of every file of the installed tfkd package: results of other code are not reused."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    paths = sorted(os.path.relpath(os.path.join(directory, name), root)
                   for directory, _, names in os.walk(root) for name in names
                   if name.endswith((".py", ".c", ".h", ".cc")))
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.encode())
        with open(os.path.join(root, path), "rb") as f:
            digest.update(f.read())
    return digest.hexdigest()


def canonical_json(value):
    """A stable text for configs and plain inputs: dataclasses by field, arrays by content hash."""
    return json.dumps(_canonical(value), sort_keys=True)


def _canonical(value):
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {"__type__": type(value).__qualname__,
                **{f.name: _canonical(getattr(value, f.name)) for f in dataclasses.fields(value)}}
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    if isinstance(value, np.ndarray):
        return {"sha256": hash_arrays(value)}
    if isinstance(value, bytes):
        return {"sha256": hashlib.sha256(value).hexdigest()}
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, type):
        return f"{value.__module__}.{value.__qualname__}"
    raise TypeError(f"cannot fingerprint {type(value).__name__} {value!r}; expected plain values, arrays or dataclasses")


def hash_arrays(*arrays):
    digest = hashlib.sha256()
    for array in arrays:
        array = np.ascontiguousarray(array)
        digest.update(f"{array.dtype}{array.shape}".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def hash_model(model):
    """Fingerprint of a Keras model given in memory: its architecture and weights."""
    return hashlib.sha256(model.to_json().encode() + hash_arrays(*model.get_weights()).encode()).hexdigest()


def plain(value):
    """JSON-ready copy: NumPy scalars and arrays become Python numbers and lists."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value


def _save_result(result, folder):
    """Writes ``result`` into ``folder``: models, bytes and arrays as files; returns the JSON-able rest."""
    import tf_keras

    record_files, values = {}, {}
    for field in dataclasses.fields(result):
        value = getattr(result, field.name)
        if isinstance(value, tf_keras.Model):
            record_files[field.name] = f"{field.name}.keras"
            value.save(os.path.join(folder, record_files[field.name]))
        elif isinstance(value, bytes):
            record_files[field.name] = f"{field.name}.bin"
            with open(os.path.join(folder, record_files[field.name]), "wb") as f:
                f.write(value)
        elif isinstance(value, np.ndarray):
            record_files[field.name] = f"{field.name}.npy"
            np.save(os.path.join(folder, record_files[field.name]), value, allow_pickle=False)
        else:
            values[field.name] = plain(value)
    return record_files, values


def _load_result(result_class, folder, record):
    kwargs = dict(record["values"])
    for name, file_name in record["files"].items():
        path = os.path.join(folder, file_name)
        if file_name.endswith(".keras"):
            from tfkd.saving import load_model

            kwargs[name] = load_model(path)
        elif file_name.endswith(".npy"):
            kwargs[name] = np.load(path, allow_pickle=False)
        else:
            with open(path, "rb") as f:
                kwargs[name] = f.read()
    return result_class(**kwargs)


class Pipeline:
    """Runs stages in the order it is given them, one progress line each, resuming from ``work_dir``.

    ``work_dir`` holds one folder per cached stage; ``total`` is the number of stages
    the progress lines count to. ``timings`` maps stage names to seconds (for a stage
    kept from an earlier run, the seconds it took then); ``skipped`` lists those stages.
    """

    def __init__(self, work_dir, log=print, total=None, verbose=0):
        self.work_dir = os.fspath(work_dir)
        self.log = log
        self.total = total
        self.verbose = verbose
        self.timings = {}
        self.skipped = []
        self.sections = {}
        self.results = {}
        self._count = 0

    def _position(self):
        width = len(str(self.total or self._count))
        return f"[{self._count:>{width}}/{self.total or '?'}]"

    def folder(self, stage_or_name):
        return os.path.join(self.work_dir, getattr(stage_or_name, "name", stage_or_name))

    def run(self, stage):
        self._count += 1
        position = self._position()
        folder = self.folder(stage)
        result = None
        if stage.cached:
            fingerprint = stage.fingerprint()
            record = _read_record(folder)
            if record is not None and record.get("fingerprint") == fingerprint:
                result = _load_result(stage.Result, folder, record)
                seconds = record["seconds"]
                self.skipped.append(stage.name)
        if result is None:
            start = time.perf_counter()
            if stage.cached:
                result, seconds = self._run_and_save(stage, folder, fingerprint, start)
            else:
                result = stage.run(Context(folder=None, verbose=self.verbose, log=self.log))
                seconds = round(time.perf_counter() - start, 2)
                fingerprint = stage.content_fingerprint(result)
        result.fingerprint = fingerprint
        self.results[stage.name] = result
        self.timings[stage.name] = seconds
        section = stage.report(result)
        if section is not None:
            self.sections[stage.section or stage.name] = section
        note = stage.note(result)
        how = (f"unchanged, kept from the last run ({seconds:.1f} s then)" if stage.name in self.skipped
               else f"done in {seconds:.1f} s")
        self.log(f"{position} {stage.name} {how}{': ' + note if note else ''}")
        return result

    def step(self, name, work):
        """Runs ``work()`` -> ``(value, note)`` as an uncached step with a progress line; returns the value."""
        self._count += 1
        start = time.perf_counter()
        value, note = work()
        seconds = round(time.perf_counter() - start, 2)
        self.log(f"{self._position()} {name} done in {seconds:.1f} s{': ' + note if note else ''}")
        return value

    def publish(self, out_dir, stage_names, write=None):
        """Copies the files of the named stages' results (``Result.files``) into ``out_dir``, all at once.

        ``write(staging)`` may add files (reports, models). Nothing appears in ``out_dir``
        unless everything was written; files already there that are not rewritten stay.
        """
        with files.staged_output_dir(out_dir) as staging:
            for name in stage_names:
                for relative in self.results[name].files:
                    target = os.path.join(staging, relative)
                    os.makedirs(os.path.dirname(target), exist_ok=True)
                    shutil.copyfile(os.path.join(self.folder(name), relative), target)
            if write is not None:
                write(staging)

    def _run_and_save(self, stage, folder, fingerprint, start):
        os.makedirs(self.work_dir, exist_ok=True)
        staging = tempfile.mkdtemp(dir=self.work_dir, prefix=f".{stage.name}-")
        try:
            result = stage.run(Context(folder=staging, verbose=self.verbose, log=self.log))
            seconds = round(time.perf_counter() - start, 2)
            record_files, values = _save_result(result, staging)
            record = {"stage": stage.name, "fingerprint": fingerprint, "seconds": seconds,
                      "files": record_files, "values": values}
            with open(os.path.join(staging, RECORD), "w", encoding="utf-8") as f:
                json.dump(record, f, indent=1)
            _replace_folder(staging, folder)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return result, seconds


def _read_record(folder):
    try:
        with open(os.path.join(folder, RECORD), encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def _replace_folder(staging, folder):
    """Moves ``staging`` to ``folder``; an old ``folder`` is renamed away first and then removed."""
    old = None
    if os.path.exists(folder):
        old = tempfile.mkdtemp(dir=os.path.dirname(folder), prefix=".old-")
        os.replace(folder, os.path.join(old, "stage"))
    os.replace(staging, folder)
    if old:
        shutil.rmtree(old, ignore_errors=True)
