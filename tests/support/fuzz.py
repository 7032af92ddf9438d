"""Schemathesis against a running stack: every service's OpenAPI document, authenticated.

The public routes of auth and conversations are fuzzed through the gateway (as a customer and as
an admin); auth's and conversations' internal routes and every service's health routes at the
service itself (the gateway does not route them). Checks: no 5xx, answers that match their documented schema and
content type, 4xx answers that are the contract's JSON error, no stack trace in any answer. The
stack's logs are checked for tracebacks by the e2e session.

    python -m tests.support.fuzz --run-dir .dev --examples 200   # a longer run (README)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
CHECKS = (
    "not_a_server_error,response_schema_conformance,content_type_conformance,"
    "no_stack_trace,errors_are_json"
)
NOT_ROUTED = r"^/(internal|healthz|readyz|metrics)"


@dataclass(frozen=True)
class Target:
    name: str
    schema_url: str  # the service's own /openapi.json
    base_url: str  # where the requests go: the gateway, or the service itself
    token: str | None = None
    include: str | None = None  # a path regex
    exclude: str | None = None


@dataclass(frozen=True)
class Outcome:
    target: Target
    returncode: int
    output: str

    @property
    def passed(self) -> bool:
        return self.returncode == 0

    def summary(self, max_chars: int = 8000) -> str:
        """The end of the output, each line cut short: a reproducing curl line of a generated
        request can be kilobytes long and would otherwise push out what failed."""
        lines = [
            line if len(line) <= 300 else line[:300] + " [...]" for line in self.output.splitlines()
        ]
        return "\n".join(lines)[-max_chars:]


def targets(
    gateway_url: str,
    ports: dict[str, int],
    *,
    customer_token: str,
    admin_token: str,
    internal_token: str | None,
) -> list[Target]:
    def schema(service: str) -> str:
        return f"http://127.0.0.1:{ports[service]}/openapi.json"

    found = []
    for service in ("auth", "conversations"):
        for who, token in (("customer", customer_token), ("admin", admin_token)):
            found.append(
                Target(f"{service} as {who}", schema(service), gateway_url, token, None, NOT_ROUTED)
            )
    if internal_token:
        for service in ("auth", "conversations"):
            url = f"http://127.0.0.1:{ports[service]}"
            found.append(
                Target(f"{service} internal", schema(service), url, internal_token, "^/internal")
            )
    for service in ("auth", "conversations", "realtime-1", "notifications"):
        if service in ports:
            url = f"http://127.0.0.1:{ports[service]}"
            found.append(
                Target(f"{service} health", schema(service), url, None, r"^/(healthz|readyz)")
            )
    return found


def run(target: Target, *, examples: int, seed: int | None = None) -> Outcome:
    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "run",
        target.schema_url,
        "--url",
        target.base_url,
        "--checks",
        CHECKS,
        "--max-examples",
        str(examples),
        "--workers",
        "1",
        # Stateful runs chain calls by links, which these documents do not declare.
        "--phases",
        "examples,coverage,fuzzing",
        "--generation-database",
        "none",
        "--request-timeout",
        "30",
        "--no-color",
        "--suppress-health-check",
        "all",
    ]
    if seed is not None:
        command += ["--seed", str(seed)]
    if target.token:
        command += ["--header", f"Authorization: Bearer {target.token}"]
    if target.include:
        command += ["--include-path-regex", target.include]
    if target.exclude:
        command += ["--exclude-path-regex", target.exclude]
    env = {
        **os.environ,
        "SCHEMATHESIS_HOOKS": "tests.support.fuzz_hooks",
        "PYTHONPATH": str(REPO_ROOT),
    }
    done = subprocess.run(
        command, capture_output=True, text=True, env=env, cwd=REPO_ROOT, timeout=1800, check=False
    )
    return Outcome(target, done.returncode, done.stdout + done.stderr)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--run-dir", default=".dev", help="the scripts/dev run directory")
    parser.add_argument("--examples", type=int, default=200, help="test cases per operation")
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args()

    import httpx

    sys.path.insert(0, str(REPO_ROOT))
    from scripts.devstack.config import DEV_INTERNAL_API_TOKEN

    state = json.loads((Path(args.run_dir) / "state.json").read_text())
    ports = {p["name"]: int(p["port"]) for p in state["processes"] if p.get("port")}
    gateway = str(state["gateway_url"])
    admin = httpx.post(
        f"{gateway}/api/auth/login",
        json={
            "email": os.environ.get("ADMIN_EMAIL", "admin@workcity.local"),
            "password": os.environ.get("ADMIN_PASSWORD", "admin-dev-password"),
        },
    ).json()["token"]
    email = f"fuzz-{os.urandom(6).hex()}@workcity.example"
    httpx.post(f"{gateway}/api/auth/signup", json={"email": email, "password": "fuzz-password"})
    customer = httpx.post(
        f"{gateway}/api/auth/login", json={"email": email, "password": "fuzz-password"}
    ).json()["token"]
    internal = os.environ.get("INTERNAL_API_TOKEN", DEV_INTERNAL_API_TOKEN)
    failed = 0
    for target in targets(
        gateway, ports, customer_token=customer, admin_token=admin, internal_token=internal
    ):
        outcome = run(target, examples=args.examples, seed=args.seed)
        print(f"{'passed' if outcome.passed else 'FAILED'}: {target.name}", flush=True)
        if not outcome.passed:
            failed += 1
            print(outcome.output)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
