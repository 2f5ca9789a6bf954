"""Results records (JSON), figures (matplotlib, Agg) and the self-contained HTML report."""
