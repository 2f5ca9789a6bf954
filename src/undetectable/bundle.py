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

import hashlib
import json
import os
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from . import __version__
from .errors import BundleError, UsageError
from .fileio import atomic_dir
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
}
FAMILIES: dict[str, type["Model"]] = {}  # classes added at run time with ``register`` (plug-ins, tests)


def register(cls: type["Model"]) -> type["Model"]:
    """Class decorator: make a family loadable that is not in ``FAMILY_PATHS`` (a plug-in)."""
    FAMILIES[cls.family] = cls
    return cls


def family_class(family: str) -> type["Model"] | None:
    """The class of ``family`` (imported lazily from ``FAMILY_PATHS``), or None when unknown."""
    cls = FAMILIES.get(family)
    if cls is None and family in FAMILY_PATHS:
        import importlib

        module, _, name = FAMILY_PATHS[family].partition(":")
        cls = getattr(importlib.import_module(module), name)
    return cls


class Model:
    """Base class of every model the toolkit saves, loads, predicts with and backdoors.

    Subclasses set ``family``, implement ``predict_index`` (class indices, input already
    validated), ``_save(dir) -> params`` and ``_load(dir, params, spec, classes)``.
    """

    family: ClassVar[str] = ""

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
    def _load(cls, directory: Path, params: dict, spec: InputSpec, classes: np.ndarray) -> "Model":
        raise NotImplementedError  # pragma: no cover

    @staticmethod
    def load_key(path, passphrase: str | None = None):
        """Read this family's backdoor key file (families without a backdoor have none)."""
        raise UsageError("this bundle has no backdoor to activate; pass a bundle made by 'undetectable plant'")

    def activate(self, X, key, targets=None) -> np.ndarray:
        """Activate(x, bk[, target]) → x' close to x whose output is flipped / equals the target."""
        raise UsageError(f"{self.family} bundles cannot be activated; pass a bundle made by 'undetectable plant'")

    def describe(self) -> dict[str, Any]:
        """What a white-box auditor sees beyond the manifest (shapes, norms); override to add."""
        return {}


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _listed_files(directory: Path) -> list[str]:
    return sorted(
        p.relative_to(directory).as_posix()
        for p in directory.rglob("*")
        if p.is_file() and p.relative_to(directory).as_posix() != MANIFEST
    )


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


def save_bundle(model: Model, path: str | os.PathLike, force: bool = False) -> Path:
    """Save ``model`` as a bundle directory at ``path``, atomically; refuse to overwrite without ``force``."""
    path = Path(path)
    with atomic_dir(path, force) as tmp:
        write_bundle_dir(model, tmp)
    return path


def read_manifest(path: str | os.PathLike) -> dict:
    """Read and verify a bundle's manifest and every file's hash; return the manifest."""
    path = Path(path)
    if not path.is_dir():
        raise BundleError(f"bundle {path} does not exist or is not a directory; pass a directory made by 'undetectable train' or 'plant'")
    mpath = path / MANIFEST
    try:
        manifest = json.loads(mpath.read_text())
    except FileNotFoundError:
        raise BundleError(f"bundle {path} has no {MANIFEST}; it is not a bundle or it is damaged") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BundleError(f"bundle {path}: {MANIFEST} is corrupted ({exc}); re-create the bundle") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BundleError(f"{path} is not an {FORMAT} (format field missing or wrong); re-create the bundle")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise BundleError(
            f"bundle {path} has format version {manifest.get('format_version')}, this undetectable reads "
            f"{FORMAT_VERSION}; re-create it with this version"
        )
    for key in ("family", "input", "classes", "params", "files"):
        if key not in manifest:
            raise BundleError(f"bundle {path}: manifest lacks '{key}'; re-create the bundle")
    listed = manifest["files"]
    present = _listed_files(path)
    extra = sorted(set(present) - set(listed))
    if extra:
        raise BundleError(f"bundle {path} holds files not in its manifest ({', '.join(extra[:3])}); it was tampered with, re-create it")
    for rel, digest in sorted(listed.items()):
        fp = path / rel
        if not fp.is_file():
            raise BundleError(f"bundle {path} lacks {rel}; it is incomplete, re-create it")
        if _sha256(fp) != digest:
            raise BundleError(f"bundle {path}: {rel} does not match its SHA-256 in the manifest; it was modified, re-create it")
    return manifest


def load_bundle(path: str | os.PathLike) -> Model:
    """Load a bundle after verifying it; raise ``BundleError`` on any mismatch."""
    path = Path(path)
    manifest = read_manifest(path)
    family = manifest["family"]
    cls = family_class(family) if isinstance(family, str) else None
    if cls is None:
        raise BundleError(f"bundle {path} has unknown model family {family!r}; upgrade undetectable")
    try:
        spec = InputSpec.from_json(manifest["input"])
        return cls._load(path, manifest["params"], spec, np.asarray(manifest["classes"]))
    except BundleError:
        raise
    except Exception as exc:  # a malformed weight file is a bundle problem, not a crash
        raise BundleError(f"bundle {path} could not be loaded as {family} ({type(exc).__name__}: {exc}); re-create it") from None
