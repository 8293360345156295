"""`python -m helicase.devstack up|down|status`."""

from helicase.devstack._cli import main

if __name__ == "__main__":
    main()
