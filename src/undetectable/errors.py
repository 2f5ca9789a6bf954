"""Errors that the command line turns into one clear line on stderr.

Every error names the problem *and* the fix. ``UsageError`` (exit code 2) is for arguments the
user gave wrongly; ``UndetectableError`` (exit code 1) for everything else that we detect
(corrupted bundle, key mismatch, input that cannot carry a payload, ...).
"""
from __future__ import annotations


class UndetectableError(Exception):
    """A failure we detected and can explain in one line (exit code 1)."""

    exit_code = 1


class UsageError(UndetectableError):
    """An argument or input the user supplied is wrong (exit code 2)."""

    exit_code = 2


class BundleError(UndetectableError):
    """A model bundle is missing, corrupted, tampered with, or of an unknown format."""


class KeyMismatchError(UndetectableError):
    """A backdoor key does not belong to the bundle it is used with."""


class CapacityError(UndetectableError):
    """An input cannot carry the payload within the allowed perturbation."""
