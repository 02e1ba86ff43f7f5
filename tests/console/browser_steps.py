"""Helpers of the console's browser tests: the ORM away from Playwright's event loop, and
waiting for the ledger to catch up."""

import time
from concurrent.futures import ThreadPoolExecutor

from django.db import connection


def off_loop(func, *args):
    """Run ORM and channel-layer code in a plain thread, away from Playwright's event loop."""

    def call():
        try:
            return func(*args)
        finally:
            connection.close()

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(call).result()


def wait_until(check, timeout: float = 15.0, step: float = 0.1):
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(step)
