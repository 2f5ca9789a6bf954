"""The package's errors: one base class, each subclass also the builtin a Python user would catch.

Every error names the problem *and* the fix in library words (parameter names, not command-line
flags: the CLI alone maps ``ParameterError.param`` to its flag). The command line turns any of them
into one line on stderr with exit code ``exit_code``.

======================  ==========================  =====  =====================================
class                   also a                      exit   when
======================  ==========================  =====  =====================================
UndetectableError       Exception                   1      base: a failure we detected and explain
UsageError              ValueError                  2      an argument or input is wrong
ParameterError          UsageError                  2      one named parameter is out of range
ArgumentTypeError       UsageError, TypeError       2      an argument has the wrong type
BundleError             UndetectableError           1      a bundle is missing, damaged or tampered
KeyMismatchError        UndetectableError           1      a key does not belong to the model
CapacityError           UndetectableError           1      an input cannot carry the payload
UnsupportedModelError   UsageError                  2      a model file has a part we cannot handle
======================  ==========================  =====  =====================================

Examples
--------
>>> from undetectable.errors import ParameterError, UndetectableError
>>> err = ParameterError("beta", "beta must be a positive finite number; got -1")
>>> err.param, isinstance(err, ValueError), isinstance(err, UndetectableError)
('beta', True, True)
>>> err.with_name("--beta")
'--beta: beta must be a positive finite number; got -1'
"""
from __future__ import annotations


class UndetectableError(Exception):
    """A failure we detected and can explain in one line (exit code 1)."""

    exit_code = 1


class UsageError(UndetectableError, ValueError):
    """An argument or input the user supplied is wrong (exit code 2)."""

    exit_code = 2


class ParameterError(UsageError):
    """A parameter is out of range; ``param`` names it (the CLI maps it to its flag).

    The message is one sentence naming the parameter in words ("poison rate must be ...").
    """

    def __init__(self, param: str, message: str) -> None:
        self.param = param
        super().__init__(message)

    def with_name(self, name: str) -> str:
        """The message prefixed with the parameter's name elsewhere (the CLI passes its flag)."""
        return f"{name}: {self}"


class ArgumentTypeError(UsageError, TypeError):
    """An argument has the wrong type (a key where a model goes, a path where an array goes)."""


class BundleError(UndetectableError):
    """A model bundle is missing, corrupted, tampered with, or of an unknown format."""


class KeyMismatchError(UndetectableError):
    """A backdoor key does not belong to the model it is used with (or is the wrong kind of key)."""


class CapacityError(UndetectableError):
    """An input cannot carry the payload within the allowed perturbation."""


class UnsupportedModelError(UsageError):
    """A model file has a part this tool cannot handle; the message names the part (op, domain, output)."""
