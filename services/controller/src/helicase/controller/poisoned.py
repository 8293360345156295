"""`python -m helicase.controller.poisoned`: a controller whose leaders run
`testing.PoisonedMachine` (a cancel with reason `testing.POISON` makes its step raise
InvalidTransition), for integration tests of failing hard. Never deployed."""

from __future__ import annotations

import asyncio

from helicase.common import observability
from helicase.controller.__main__ import serve
from helicase.controller._config import ControllerConfig
from helicase.controller.testing import PoisonedMachine


def main() -> None:
    observability.setup("controller")
    asyncio.run(serve(ControllerConfig.from_env(), machine_type=PoisonedMachine))


if __name__ == "__main__":
    main()
