"""One module per CLI verb, each exposing `command` (a typer-annotated function)."""
