"""``make bench``: ratios of our code paths against the raw primitive, measured side by side in one run."""
