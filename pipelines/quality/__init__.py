"""Data quality: Great Expectations validation and its Data Docs, QC flags, censored values, and
the comparison of published results with envmon's own."""
