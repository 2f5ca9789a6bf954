"""Cryptographic building blocks: payload encodings in inputs, Gaussian pancakes."""
