"""Schemathesis checks of our own, loaded by the fuzz run (SCHEMATHESIS_HOOKS)."""

from __future__ import annotations

from typing import Any

import schemathesis

# What a Python stack trace or a framework's debug page leaves in a body.
_TRACE_MARKERS = ("Traceback (most recent call last)", 'File "/', "site-packages/")


@schemathesis.check
def no_stack_trace(ctx: Any, response: Any, case: Any) -> None:
    """No answer, whatever its status, shows a stack trace or a source path."""
    text = response.content.decode("utf-8", errors="replace")  # a download may be binary
    for marker in _TRACE_MARKERS:
        if marker in text:
            raise AssertionError(f"the answer shows a stack trace ({marker!r})")


@schemathesis.check
def errors_are_json(ctx: Any, response: Any, case: Any) -> None:
    """Every 4xx answer is the contract's JSON error: {msg, code}."""
    if not 400 <= response.status_code < 500:
        return
    try:
        body = response.json()
    except ValueError:
        raise AssertionError("a 4xx answer that is not JSON") from None
    if not (isinstance(body, dict) and isinstance(body.get("code"), str) and "msg" in body):
        raise AssertionError(f"a 4xx answer without {{msg, code}}: {str(body)[:200]}")
