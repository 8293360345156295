"""The `helicase` command line (Typer + Rich) over helicase.client."""
