"""One exception type for every failure a user can fix: stages print it as a single line, no traceback."""


class PawprintError(Exception):
    """A problem with input, params or environment, with its message naming the cause and the fix."""
