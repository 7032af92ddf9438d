"""The one error the local stack raises: something a developer must fix, said in words."""

from __future__ import annotations


class StackError(RuntimeError):
    """The stack cannot start or stop as asked; the message says why and what to do."""
