"""The `squall` command line: one module per noun."""
