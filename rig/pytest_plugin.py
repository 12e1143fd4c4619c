"""pytest plugin: `board` and `boards` fixtures and the `--board` option."""
