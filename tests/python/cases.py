"""Runs the cases of a Python test script: each is reported, failures with their traceback;
ends with `N passed, M failed` and exits non-zero if any failed."""

import sys
import traceback


def run(cases):
    failed = 0
    for case in cases:
        try:
            case()
            print(f"{case.__name__} ... ok")
        except Exception:  # noqa: BLE001 - every failure is reported, then counted
            failed += 1
            print(f"{case.__name__} ... FAILED")
            traceback.print_exc(file=sys.stdout)
    print(f"{len(cases) - failed} passed, {failed} failed")
    sys.exit(1 if failed else 0)
