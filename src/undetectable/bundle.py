"""The on-disk model bundle: a directory with ``manifest.json`` and weight files in safe formats.

    manifest.json   {"format": "undetectable-bundle", "format_version": 1, "family": ...,
                     "input": {shape, dtype, low, high, feature_std}, "classes": [...],
                     "params": {...family-specific, JSON only...},
                     "files": {"relative/path": "sha256 hex", ...}}
    *.safetensors   arrays (torch / numpy weights)
    *.skops         scikit-learn estimators, loaded with an allow-list of trusted types
    base/           a wrapped bundle (signature, checksum, smoothed wrappers), itself a bundle

Loading verifies every listed file's SHA-256, refuses missing or unlisted files, and refuses
unknown formats. Nothing is ever unpickled. A white-box backdoored model (rff, relu) has exactly
the manifest fields of an honest one: no flag, no key. Keys live only in key files.
"""
from __future__ import annotations

import contextvars
import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from ._version import __version__
from .errors import BundleError, UsageError
from .fileio import atomic_dir
from .safety import (check_bundle_tree, check_npy_header, check_safetensors, check_zip, limit, open_nofollow,
                     strict_json, validate_manifest)
from .spec import InputSpec

FORMAT = "undetectable-bundle"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
# The ONE family registry: family name → "module:Class", imported only when a bundle of that family is
# loaded (so bundle.py imports no model module: no cycle, no torch at start-up). Add a line per family.
FAMILY_PATHS: dict[str, str] = {
    "sklearn": "undetectable.models.sklearn_model:SklearnModel",
    "torch-mlp": "undetectable.models.mlp:MLPModel",
    "rff": "undetectable.models.rff:RFFModel",
    "relu": "undetectable.models.relu:ReLUModel",
    "signature": "undetectable.schemes.signature:SignatureBackdoor",
    "checksum": "undetectable.schemes.checksum:ChecksumBackdoor",
    "smoothed": "undetectable.defend.smoothing:SmoothedModel",
    "persistent": "undetectable.schemes.persistent:PersistentModel",
    "onnx": "undetectable.models.onnx_file:OnnxModel",  # a user's ONNX file; the bundle holds it as model.onnx
}
FAMILIES: dict[str, type[Model]] = {}  # classes added at run time with ``register`` (plug-ins, tests)


def register(cls: type[Model]) -> type[Model]:
    """Class decorator: make a family loadable that is not in ``FAMILY_PATHS`` (a plug-in)."""
    FAMILIES[cls.family] = cls
    return cls


def family_class(family: str) -> type[Model] | None:
    """The class of ``family`` (imported lazily from ``FAMILY_PATHS``), or None when unknown."""
    cls = FAMILIES.get(family)
    if cls is None and family in FAMILY_PATHS:
        from .resolve import load_object

        cls = load_object(FAMILY_PATHS[family])
    return cls


class Model:
    """Base class of every model the toolkit saves, loads, predicts with and backdoors.

    Subclasses set ``family``, implement ``predict_index`` (class indices, input already
    validated), ``_save(dir) -> params`` and ``_load(dir, params, spec, classes)``.
    """

    family: ClassVar[str] = ""
    #: the bundle folder this model was loaded from (None: built in memory); writers refuse to touch it
    source_path: Path | None = None

    def __init__(self, spec: InputSpec, classes) -> None:
        self.spec = spec
        self.classes = np.asarray(classes)

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    def predict(self, X) -> np.ndarray:
        """Labels (in the dataset's label values) for inputs ``X`` of shape (n, *spec.shape)."""
        return self.classes[self.predict_index(self.spec.validate(X))]

    def predict_index(self, X: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def scores(self, X: np.ndarray) -> np.ndarray:
        """Real-valued per-class scores (n, C) where the family has them (logits, decisions)."""
        raise NotImplementedError(f"{self.family} models expose no scores")

    def _save(self, directory: Path) -> dict[str, Any]:  # pragma: no cover - abstract
        raise NotImplementedError

    @classmethod
    def _load(cls, directory: Path, params: dict, spec: InputSpec, classes: np.ndarray) -> Model:
        raise NotImplementedError  # pragma: no cover

    def describe(self) -> dict[str, Any]:
        """What a white-box auditor sees beyond the manifest (shapes, norms); override to add."""
        return {}


def _sha256(path: Path, what: str | None = None) -> str:
    """SHA-256 of a regular file, opened without following a symlink, within UNDETECTABLE_MAX_FILE_BYTES."""
    fd = open_nofollow(path, what=what)
    h = hashlib.sha256()
    with os.fdopen(fd, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _listed_files(directory: Path) -> list[str]:
    return [rel for rel in check_bundle_tree(directory) if rel != MANIFEST]


def write_bundle_dir(model: Model, directory: Path) -> dict:
    """Write ``model`` into an existing empty ``directory`` (used for nested bundles)."""
    params = model._save(directory)
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "family": model.family,
        "input": model.spec.to_json(),
        "classes": np.asarray(model.classes).tolist(),
        "params": params,
        "files": {rel: _sha256(directory / rel) for rel in _listed_files(directory)},
        "created_by": f"undetectable {__version__}",
    }
    (directory / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True))
    return manifest


def model_sources(model: Any) -> list[Path]:
    """The bundle folders ``model`` (and the bases it wraps) were loaded from: inputs no output may touch."""
    out: list[Path] = []
    m = model
    for _ in range(16):  # wrappers nest at most UNDETECTABLE_MAX_NESTING deep
        src = getattr(m, "source_path", None)
        if src is not None:
            out.append(Path(src))
        m = getattr(m, "base", None)
        if m is None:
            break
    return out


def save_bundle(model: Model, path: str | os.PathLike, force: bool = False, inputs=()) -> Path:
    """Save ``model`` as a bundle directory at ``path``, atomically; refuse to overwrite without ``force``.

    With ``force`` only a bundle this tool wrote is replaced (see ``fileio.atomic_dir``), and it
    stays intact until the new one is complete; ``inputs`` are paths the output must not hold, be or lie
    in (the bundles ``model`` was loaded from are added: ``model_sources``).
    """
    path = Path(path)
    with atomic_dir(path, force, (*inputs, *model_sources(model))) as tmp:
        write_bundle_dir(model, tmp)
    return path


def read_manifest(path: str | os.PathLike) -> dict:
    """Read and verify a bundle's manifest and every file's hash; return the manifest.

    The bundle is hostile until proven otherwise: the manifest is size-bounded, parsed with
    duplicate keys refused and depth bounded, and checked against the schema (``safety.validate_manifest``)
    before any field is used; the folder may hold no symlink, device or unlisted file; every listed path
    is plain and relative; sizes are bounded (``UNDETECTABLE_MAX_*``) before reading; safetensors
    headers and zip (skops) members are checked against their real sizes before anything is allocated.
    """
    path = Path(path)
    if not path.is_dir():
        # a path the user gave is a usage error (exit 2); a missing base/ inside a bundle is a damaged bundle
        error = UsageError if _DEPTH.get() <= 1 else BundleError
        raise error(f"bundle {path} does not exist or is not a directory; pass a directory made by 'undetectable train' or 'plant'")
    mpath = path / MANIFEST
    if not os.path.lexists(mpath):
        raise BundleError(f"bundle {path} has no {MANIFEST}; it is not a bundle or it is damaged")
    try:
        fd = open_nofollow(mpath, limit_name="MANIFEST_BYTES", what=f"bundle {path}: {MANIFEST}")
    except ValueError as exc:
        raise BundleError(f"{exc}; re-create the bundle") from None
    with os.fdopen(fd, "rb") as fh:
        raw = fh.read()
    try:
        manifest = strict_json(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        what = "corrupted" if isinstance(exc, (json.JSONDecodeError, UnicodeDecodeError)) else "malformed"
        raise BundleError(f"bundle {path}: {MANIFEST} is {what} ({str(exc).splitlines()[0][:160]}); re-create the bundle") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BundleError(f"{path} is not an {FORMAT} (format field missing or wrong); re-create the bundle")
    try:
        validate_manifest(manifest, FORMAT, FORMAT_VERSION)
    except ValueError as exc:
        raise BundleError(f"bundle {path}: {MANIFEST} is malformed: {exc}; re-create the bundle") from None
    if manifest.get("format_version") != FORMAT_VERSION:
        raise BundleError(
            f"bundle {path} has format version {manifest.get('format_version')}, this undetectable reads "
            f"{FORMAT_VERSION}; re-create it with this version"
        )
    listed = manifest["files"]
    try:
        present = set(_listed_files(path))
    except ValueError as exc:
        raise BundleError(f"bundle {path} is unsafe: {exc}; refusing to load it") from None
    except OSError as exc:
        raise BundleError(f"bundle {path} cannot be read ({exc.strerror}); check its permissions") from None
    extra = sorted(present - set(listed))
    if extra:
        raise BundleError(f"bundle {path} holds files not in its manifest ({', '.join(extra[:3])}); it was tampered with, re-create it")
    for rel, digest in sorted(listed.items()):
        fp = path / rel
        if rel not in present:
            raise BundleError(f"bundle {path} lacks {rel}; it is incomplete, re-create it")
        try:
            ok = _sha256(fp, f"bundle {path}: {rel}") == digest
        except ValueError as exc:
            raise BundleError(f"{exc}; refusing to load it") from None
        if not ok:
            raise BundleError(f"bundle {path}: {rel} does not match its SHA-256 in the manifest; it was modified, re-create it")
        if rel.endswith(".safetensors"):
            check_safetensors(fp, f"bundle {path}: {rel}")
        elif rel.endswith((".skops", ".zip", ".npz")):
            check_zip(fp, f"bundle {path}: {rel}")
        elif rel.endswith(".npy"):
            with open(fp, "rb") as fh:
                check_npy_header(fh, os.fstat(fh.fileno()).st_size, f"bundle {path}: {rel}", BundleError)
    return manifest


_DEPTH: contextvars.ContextVar[int] = contextvars.ContextVar("undetectable_bundle_depth", default=0)


def load_bundle(path: str | os.PathLike) -> Model:
    """Load a bundle after verifying it; raise ``BundleError`` on any mismatch."""
    return load_bundle_and_manifest(path)[0]


def load_bundle_and_manifest(path: str | os.PathLike) -> tuple[Model, dict]:
    """``load_bundle`` and the verified manifest it was loaded from (the bundle is read and hashed once)."""
    path = Path(path)
    if _DEPTH.get() == 0:  # the top-level read: a bundle swapped in while we read it is read again
        for attempt in range(READ_ATTEMPTS):
            if attempt:
                time.sleep(min(0.005 * 2 ** attempt, 0.25))  # back off: let a writer mid-swap finish
            before = _identity(path)
            try:
                result = _load_once(path)
            except Exception:  # noqa: BLE001 - re-raised below unless the folder was swapped meanwhile
                if before is not None and _identity(path) != before:
                    continue  # replaced (--force) mid-read: the files we saw were half old, half new
                raise
            if before is not None and _identity(path) == before:
                return result
        raise BundleError(f"bundle {path} was replaced {READ_ATTEMPTS} times while being read; try again when the writer is done")
    return _load_once(path)


#: how often a reader retries a bundle replaced under it (each replacement is one atomic directory swap)
READ_ATTEMPTS = 12


def _identity(path: Path) -> tuple[int, int, int, str] | None:
    """(device, inode, ctime) of the bundle folder and the SHA-256 of its manifest.

    An atomic swap (fileio.atomic_dir) changes the folder's inode, but a freed inode is soon reused and
    ctime is coarse (a kernel tick), so two quick swaps can look like none; the manifest lists every file's
    hash, so an unchanged manifest means unchanged files, and a changed one is a swap."""
    try:
        st = os.stat(path)
        fd = open_nofollow(path / MANIFEST, limit_name="MANIFEST_BYTES", what=f"bundle {path}: {MANIFEST}")
        with os.fdopen(fd, "rb") as fh:
            digest = hashlib.sha256(fh.read()).hexdigest()
    except (OSError, ValueError):
        return None
    return st.st_dev, st.st_ino, st.st_ctime_ns, digest


def _load_once(path: Path) -> tuple[Model, dict]:
    depth = _DEPTH.get()
    if depth >= limit("NESTING"):
        raise BundleError(f"bundle {path} wraps bundles more than {limit('NESTING')} deep (base/ inside base/ ...); refusing to load "
                          f"it (if you trust it, raise the limit with UNDETECTABLE_MAX_NESTING={depth + 1})")
    token = _DEPTH.set(depth + 1)
    try:
        manifest = read_manifest(path)
        return _load_verified(path, manifest), manifest
    finally:
        _DEPTH.reset(token)


def _load_verified(path: Path, manifest: dict) -> Model:
    family = manifest["family"]  # a short name: validate_manifest checked it
    cls = family_class(family)
    if cls is None:
        raise BundleError(f"bundle {path} has unknown model family {family!r}; upgrade undetectable")
    try:
        spec = InputSpec.from_json(manifest["input"])
        model = cls._load(path, manifest["params"], spec, np.asarray(manifest["classes"]))
        model.source_path = path  # outputs may not be, hold or lie inside it (fileio.check_not_an_input)
    except BundleError:
        raise
    except (RecursionError, MemoryError) as exc:
        raise BundleError(f"bundle {path} could not be loaded as {family} ({type(exc).__name__}); it is too deep or too large, re-create it") from None
    except Exception as exc:  # a malformed weight file is a bundle problem, not a crash
        raise BundleError(f"bundle {path} could not be loaded as {family} ({type(exc).__name__}: {exc}); re-create it") from None
    _check_claims(path, manifest, model, spec)
    return model


def _check_claims(path: Path, manifest: dict, model: Model, spec: InputSpec) -> None:
    """The manifest's ``input`` and ``classes`` are what the loaded model has (a wrapper's are its base's):
    a manifest may not claim another input shape or other classes than the weights it carries."""
    if model.spec != spec:
        got = model.spec
        raise BundleError(f"bundle {path}: its manifest states input shape {list(spec.shape)} {spec.dtype}, but its model "
                          f"({manifest['family']} over {getattr(getattr(model, 'base', None), 'family', 'its weights')}) takes "
                          f"{list(got.shape)} {got.dtype}{' with other range or scales' if got.shape == spec.shape else ''}; "
                          "it was modified, re-create it")
    stated = np.asarray(manifest["classes"]).tolist()
    if np.asarray(model.classes).tolist() != stated:
        raise BundleError(f"bundle {path}: its manifest states {len(stated)} classes that differ from its model's "
                          f"{len(model.classes)} classes; it was modified, re-create it")
