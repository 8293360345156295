"""`helicase` / `python -m helicase.cli`."""

from __future__ import annotations


def main() -> None:
    from helicase.cli._app import app

    app()


if __name__ == "__main__":
    main()
