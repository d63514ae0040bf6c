"""The one error of the bench harness."""


class BenchError(Exception):
    """The benchmark cannot run or cannot be trusted."""
