"""deploy/k8s: each overlay renders with kustomize and every object is valid against the
Kubernetes API schemas (kubernetes-validate ships them; strict mode refuses unknown fields), and
the objects fit together: probes, resources, selectors, ports, autoscalers, disruption budgets,
network policies, Secrets."""

from __future__ import annotations

from typing import Any

import kubernetes_validate
import pytest

from tests.deploy.manifests import (
    GATEWAY_PORT,
    OVERLAYS,
    SERVICE_PORT,
    SERVICES,
    by_kind,
    pod_spec,
    render,
    render_overlay,
)

pytestmark = pytest.mark.deploy

# The oldest Kubernetes minor release the manifests promise to work on, and the newest schema
# the validator ships.
KUBERNETES_VERSIONS = ("1.30.0", kubernetes_validate.utils.latest_version())
APPS = (*SERVICES, "gateway")
# Created by the operator in production, never kept in the repository (deploy/README.md).
EXTERNAL_SECRETS = {"workcity-backing", "workcity-jwt", "workcity-auth", "workcity-internal"}


def schema_errors(objects: tuple[dict[str, Any], ...]) -> list[str]:
    errors = []
    for obj in objects:
        for version in KUBERNETES_VERSIONS:
            try:
                kubernetes_validate.validate(obj, version, strict=True)
            except Exception as exc:
                errors.append(f"{obj['kind']}/{obj['metadata']['name']} @ {version}: {exc}")
    return errors


@pytest.mark.parametrize("directory", ["base", *(f"overlays/{o}" for o in OVERLAYS)])
def test_renders_and_every_object_matches_the_kubernetes_schema(directory: str) -> None:
    objects = render(directory)
    assert objects
    assert schema_errors(objects) == []


def test_schema_check_is_not_vacuous() -> None:
    deployment = by_kind(render_overlay("prod"), "Deployment")["auth"]
    container = pod_spec(deployment)["containers"][0]
    typo = {**container, "readinesProbe": container["readinessProbe"]}
    broken = {
        **deployment,
        "spec": {
            **deployment["spec"],
            "template": {
                **deployment["spec"]["template"],
                "spec": {**pod_spec(deployment), "containers": [typo]},
            },
        },
    }
    (error,) = schema_errors((broken,))[:1]
    assert "readinesProbe" in error


@pytest.fixture(scope="module", params=OVERLAYS)
def overlay(request: pytest.FixtureRequest) -> tuple[str, tuple[dict[str, Any], ...]]:
    return request.param, render_overlay(request.param)


def container_of(objects: tuple[dict[str, Any], ...], app: str) -> dict[str, Any]:
    (container,) = pod_spec(by_kind(objects, "Deployment")[app])["containers"]
    return container


def test_everything_lands_in_the_overlay_namespace(overlay: tuple[str, Any]) -> None:
    _, objects = overlay
    (namespace,) = by_kind(objects, "Namespace")
    for obj in objects:
        if obj["kind"] != "Namespace":
            assert obj["metadata"]["namespace"] == namespace, obj["metadata"]["name"]


def test_probes_ports_and_resources(overlay: tuple[str, Any]) -> None:
    _, objects = overlay
    for app in APPS:
        container = container_of(objects, app)
        port = GATEWAY_PORT if app == "gateway" else SERVICE_PORT
        assert container["ports"] == [{"name": "http", "containerPort": port}]
        readiness = "/healthz" if app == "gateway" else "/readyz"
        assert container["readinessProbe"]["httpGet"] == {"path": readiness, "port": "http"}
        assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
        assert container["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
        # Drains before SIGTERM, and the grace period outlasts the drain plus uvicorn's own
        # graceful-shutdown bound (20 s, in the Dockerfiles).
        assert container["lifecycle"]["preStop"]["exec"]["command"] == ["sleep", "5"]
        assert pod_spec(by_kind(objects, "Deployment")[app])["terminationGracePeriodSeconds"] >= 25
        resources = container["resources"]
        assert set(resources["requests"]) == {"cpu", "memory"}
        assert set(resources["limits"]) == {"cpu", "memory"}


def test_pods_run_unprivileged(overlay: tuple[str, Any]) -> None:
    _, objects = overlay
    for app in APPS:
        spec = pod_spec(by_kind(objects, "Deployment")[app])
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        assert spec["automountServiceAccountToken"] is False
        context = spec["containers"][0]["securityContext"]
        assert context == {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        }
        # A read-only root needs somewhere to write temporary files.
        mounts = {m["mountPath"] for m in spec["containers"][0]["volumeMounts"]}
        assert "/tmp" in mounts  # noqa: S108 - the pod's own emptyDir


def test_services_select_their_pods_and_ports(overlay: tuple[str, Any]) -> None:
    _, objects = overlay
    deployments = by_kind(objects, "Deployment")
    workloads = {**deployments, **by_kind(objects, "StatefulSet")}
    for name, service in by_kind(objects, "Service").items():
        selector = service["spec"]["selector"]
        matching = [
            w
            for w in workloads.values()
            if selector.items() <= w["spec"]["template"]["metadata"]["labels"].items()
        ]
        assert len(matching) == 1, f"Service {name} selects {len(matching)} workloads"
        ports = {
            p["name"]
            for c in pod_spec(matching[0])["containers"]
            for p in c.get("ports", [])
            if "name" in p
        }
        for port in service["spec"]["ports"]:
            assert port["targetPort"] in ports, f"Service {name}: no container port {port}"


def test_disruption_budgets_and_autoscalers(overlay: tuple[str, Any]) -> None:
    _, objects = overlay
    deployments = by_kind(objects, "Deployment")
    budgets = by_kind(objects, "PodDisruptionBudget")
    assert set(budgets) == set(APPS)
    for name, budget in budgets.items():
        labels = deployments[name]["spec"]["template"]["metadata"]["labels"]
        assert budget["spec"]["selector"]["matchLabels"].items() <= labels.items()
    autoscalers = by_kind(objects, "HorizontalPodAutoscaler")
    assert set(autoscalers) == {"realtime", "conversations"}
    for name, hpa in autoscalers.items():
        assert hpa["spec"]["scaleTargetRef"] == {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "name": name,
        }
        assert 1 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
        # The autoscaler owns the count; a fixed one would be reset on every apply.
        assert "replicas" not in deployments[name]["spec"]


def test_network_policies_admit_only_the_gateway_and_known_callers(
    overlay: tuple[str, Any],
) -> None:
    _, objects = overlay
    policies = by_kind(objects, "NetworkPolicy")
    deny = policies["default-deny-ingress"]
    assert deny["spec"] == {"podSelector": {}, "policyTypes": ["Ingress"]}

    def callers(app: str) -> set[str]:
        found = set()
        for rule in policies[app]["spec"]["ingress"]:
            for peer in rule["from"]:
                labels = peer.get("podSelector", {}).get("matchLabels", {})
                if "app.kubernetes.io/name" in labels:
                    found.add(labels["app.kubernetes.io/name"])
                namespace = peer.get("namespaceSelector", {}).get("matchLabels", {})
                if namespace:
                    found.add("namespace:" + namespace["kubernetes.io/metadata.name"])
        return found

    assert callers("gateway") == {"namespace:ingress-nginx"}
    assert callers("auth") == {"gateway", "conversations", "realtime", "notifications"}
    assert callers("conversations") == {"gateway", "realtime", "notifications"}
    assert callers("realtime") == {"gateway", "namespace:ingress-nginx"}


def test_ingress_routes_socket_io_with_affinity_and_the_rest_to_the_gateway(
    overlay: tuple[str, Any],
) -> None:
    _, objects = overlay
    ingresses = by_kind(objects, "Ingress")
    services = by_kind(objects, "Service")
    routes = {}
    for ingress in ingresses.values():
        for rule in ingress["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                backend = path["backend"]["service"]
                assert backend["name"] in services
                assert backend["port"]["name"] in {
                    p["name"] for p in services[backend["name"]]["spec"]["ports"]
                }
                routes[path["path"]] = (backend["name"], ingress["metadata"]["annotations"])
    assert routes["/"][0] == "gateway"
    service, annotations = routes["/socket.io"]
    assert service == "realtime"
    assert annotations["nginx.ingress.kubernetes.io/affinity"] == "cookie"
    assert int(annotations["nginx.ingress.kubernetes.io/proxy-read-timeout"]) >= 3600
    # Pinning on Kubernetes is the ingress cookie's job: the pods have no stable names for the
    # gateway's session-id prefixes to map to (gateway/README.md, "Socket.IO"), so none is set.
    realtime = container_of(objects, "realtime")
    assert "SOCKET_SID_PREFIX" not in {var["name"] for var in realtime["env"]}


def referenced(objects: tuple[dict[str, Any], ...], kind: str) -> dict[str, bool]:
    """Names of Secrets or ConfigMaps the pods use, each with whether every use is optional."""
    ref_key = "secretKeyRef" if kind == "Secret" else "configMapKeyRef"
    from_key = "secretRef" if kind == "Secret" else "configMapRef"
    found: dict[str, bool] = {}

    def note(name: str, optional: bool) -> None:
        found[name] = found.get(name, True) and optional

    for workload in (
        *by_kind(objects, "Deployment").values(),
        *by_kind(objects, "StatefulSet").values(),
    ):
        spec = pod_spec(workload)
        for container in spec["containers"]:
            for var in container.get("env", []):
                ref = var.get("valueFrom", {}).get(ref_key)
                if ref:
                    note(ref["name"], ref.get("optional", False))
            for source in container.get("envFrom", []):
                if from_key in source:
                    note(source[from_key]["name"], source[from_key].get("optional", False))
        for volume in spec.get("volumes", []):
            if kind == "Secret" and "secret" in volume:
                note(volume["secret"]["secretName"], volume["secret"].get("optional", False))
            if kind == "ConfigMap" and "configMap" in volume:
                note(volume["configMap"]["name"], volume["configMap"].get("optional", False))
    return found


def test_config_maps_exist_and_secrets_exist_or_are_created_by_the_operator(
    overlay: tuple[str, Any],
) -> None:
    name, objects = overlay
    config_maps = by_kind(objects, "ConfigMap")
    assert set(referenced(objects, "ConfigMap")) <= set(config_maps)
    secrets = set(by_kind(objects, "Secret"))
    required = {s for s, optional in referenced(objects, "Secret").items() if not optional}
    if name == "prod":
        assert secrets == set(), "production Secrets are never kept in the repository"
        assert required <= EXTERNAL_SECRETS
    else:
        assert required <= secrets


def test_production_settings(overlay: tuple[str, Any]) -> None:
    name, objects = overlay
    config = next(
        c for n, c in by_kind(objects, "ConfigMap").items() if n.startswith("workcity-common")
    )
    assert config["data"]["ENVIRONMENT"] == ("production" if name == "prod" else "development")
    images = {container_of(objects, app)["image"] for app in APPS}
    if name == "prod":
        for image in images:
            registry, _, tagged = image.partition("/")
            assert "." in registry, f"{image}: production images come from a registry"
            assert not tagged.endswith((":local", ":latest")) and ":" in tagged, image
        # Every auth replica signs with the Secret's key; none generates its own.
        auth = container_of(objects, "auth")
        env = {v["name"]: v for v in auth["env"]}
        assert env["JWT_PRIVATE_KEY_FILE"]["value"].startswith("/var/run/secrets/workcity/jwt/")
        realtime = container_of(objects, "realtime")
        cors = next(
            c for n, c in by_kind(objects, "ConfigMap").items() if n.startswith("workcity-origins")
        )
        assert cors["data"]["CORS_ORIGINS"] != "*", "production lists its frontends' origins"
        assert cors["data"]["FRONTEND_URL"].startswith("https://")
        # The gateway and realtime read the same allow-list.
        (realtime_origins,) = [
            ref["configMapRef"]["name"]
            for ref in realtime["envFrom"]
            if ref["configMapRef"]["name"].startswith("workcity-origins")
        ]
        gateway_env = {var["name"]: var for var in container_of(objects, "gateway")["env"]}
        for name in ("CORS_ORIGINS", "FRONTEND_URL"):
            ref = gateway_env[name]["valueFrom"]["configMapKeyRef"]
            assert (ref["name"], ref["key"]) == (realtime_origins, name)
        assert "envFrom" in realtime
    else:
        assert all(image.endswith(":local") for image in images)
