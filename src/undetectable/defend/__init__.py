"""Defenses: immunization by randomized smoothing, post-processing, client-controlled coins, oblivious mitigation."""
