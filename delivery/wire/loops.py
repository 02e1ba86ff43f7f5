"""One instance of a process-wide helper per running event loop.

daphne runs one loop; tests make one per test, and a helper's tasks must not outlive theirs.
"""

import asyncio
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class PerLoop(Generic[T]):
    def __init__(self, factory: Callable[[], T]) -> None:
        self.factory = factory
        self.instances: dict[asyncio.AbstractEventLoop, T] = {}

    def __call__(self) -> T:
        loop = asyncio.get_running_loop()
        if loop not in self.instances:
            for stale in [other for other in self.instances if other.is_closed()]:
                del self.instances[stale]
            self.instances[loop] = self.factory()
        return self.instances[loop]
