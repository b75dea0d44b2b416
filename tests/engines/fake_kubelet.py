"""A stand-in for kube-scheduler and the kubelets of a few nodes, for tests against a real
kube-apiserver and Job controller where no kubelet can run (no container runtime here).

What it does, through the API like the real components:

- registers Nodes (capacity, allocatable, ``nvidia.com/gpu``, the GPU model label, address
  127.0.0.1 and the port of its log server) and heartbeats their Ready condition every
  second, so that the real node lifecycle controller sees them alive;
- schedules (the scheduler's part): binds each pending pod of its namespace through
  ``pods/binding`` to the first live, schedulable node whose labels match the pod's
  nodeSelector / required node affinity (``In``) and that has enough free GPUs;
- runs each pod bound to one of its nodes (the kubelet's and container runtime's part):
  the container's ``command`` is started as a local process (no image, no isolation: the
  command must exist on this machine), env = the container's literal env values plus PATH,
  stdout and stderr into one log file (Kubernetes keeps one interleaved log), then
  reports status: Running with the container's start, then Succeeded or Failed with its
  exit code (128+signal when killed);
- on a pod's deletion: SIGTERM, SIGKILL at the deletion deadline (the grace period), then
  the terminated status and the final delete with grace 0, as a kubelet confirms it;
- serves ``/containerLogs/{ns}/{pod}/{container}`` over HTTPS (limitBytes, tailLines) for
  the apiserver's ``pods/log``, which proxies to the node's address and kubelet port;
- `kill_node`: the machine dies: its processes are SIGKILLed, nothing is reported, its
  heartbeats stop (the real node lifecycle controller then marks it Ready=Unknown and
  the taint manager evicts its pods).

Not emulated: images, resource isolation and limits (OOM), probes, restarts, volumes,
env from secrets or fields, taints and tolerations in scheduling, device plugins.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import ssl
import subprocess
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

log = logging.getLogger("tests.fake_kubelet")

Obj = dict[str, Any]
GPU_RESOURCE = "nvidia.com/gpu"
MERGE = "application/merge-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_time(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


@dataclass
class FakeNode:
    name: str
    labels: dict[str, str]
    gpus: int
    schedulable: bool = True
    alive: bool = True


@dataclass
class Run:
    """One pod's process."""

    namespace: str
    pod: str
    uid: str
    node: str
    proc: subprocess.Popen[bytes] | None
    log_path: Path
    started_at: str
    exit_code: int | None = None
    reported: bool = False
    term_sent: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


class FakeKubelet:
    """See the module doc. `start()` it, `add_node()` its nodes, `stop()` it at the end."""

    def __init__(self, api: Any, namespace: str, workdir: Path, *, tick_s: float = 0.1) -> None:
        self._api = api
        self._core: Any = k8s.CoreV1Api(api)  # JSON in and out: see the engine
        self._namespace = namespace
        self._dir = workdir
        self._dir.mkdir(parents=True, exist_ok=True)
        self._tick_s = tick_s
        self._nodes: dict[str, FakeNode] = {}
        self._runs: dict[str, Run] = {}  # by pod uid
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._server: ThreadingHTTPServer | None = None
        self.errors: list[str] = []

    # ---- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        self._server = self._log_server()
        for target in (self._serve_logs, self._pod_loop, self._heartbeat_loop):
            thread = threading.Thread(target=target, name=f"fake-kubelet-{target.__name__}")
            thread.daemon = True
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        if self._server is not None:
            self._server.shutdown()
        for thread in self._threads:
            thread.join(timeout=5)
        with self._lock:
            for run in self._runs.values():
                _kill(run, signal.SIGKILL)
            names = list(self._nodes)
        for name in names:  # the pod GC controller then force-deletes their pods
            try:
                self._core.delete_node(name, _preload_content=False)
            except ApiException as exc:
                if exc.status != 404:
                    raise

    def add_node(
        self, name: str, *, labels: Mapping[str, str], gpus: int, schedulable: bool = True
    ) -> None:
        """Register a Node (or take over an existing one of that name) and heartbeat it."""
        node = FakeNode(name, {"kubernetes.io/hostname": name, **labels}, gpus, schedulable)
        body: Obj = {"metadata": {"name": name, "labels": node.labels}, "spec": {}}
        if not schedulable:
            body["spec"]["unschedulable"] = True
        try:
            self._core.create_node(body, _preload_content=False)
        except ApiException as exc:
            if exc.status != 409:
                raise
        capacity = {"cpu": "16", "memory": "64Gi", "pods": "110", GPU_RESOURCE: str(gpus)}
        port = self._server.server_address[1] if self._server else 10250
        status = {
            "capacity": capacity,
            "allocatable": capacity,
            # No Hostname address: the apiserver would resolve it to reach the kubelet.
            "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": port}},
            "nodeInfo": {
                "machineID": name,
                "systemUUID": name,
                "bootID": name,
                "kernelVersion": os.uname().release,
                "osImage": "fake kubelet (suanli tests)",
                "containerRuntimeVersion": "fake://0",
                "kubeletVersion": "v1.20.2",
                "kubeProxyVersion": "v1.20.2",
                "operatingSystem": "linux",
                "architecture": "amd64",
            },
            "conditions": [self._ready_condition()],
        }
        self._core.patch_node_status(
            name, {"status": status}, _content_type=STRATEGIC, _preload_content=False
        )
        with self._lock:
            self._nodes[name] = node

    def kill_node(self, name: str) -> None:
        """The machine `name` dies: its processes are killed and nothing more is reported."""
        with self._lock:
            self._nodes[name].alive = False
            for uid, run in list(self._runs.items()):
                if run.node == name:
                    _kill(run, signal.SIGKILL)
                    del self._runs[uid]

    def process_of(self, pod_uid: str) -> subprocess.Popen[bytes] | None:
        with self._lock:
            run = self._runs.get(pod_uid)
            return run.proc if run else None

    # ---- the loops ------------------------------------------------------------------------

    def _heartbeat_loop(self) -> None:
        while not self._stop.wait(1.0):
            with self._lock:
                alive = [n.name for n in self._nodes.values() if n.alive]
            for name in alive:
                body = {"status": {"conditions": [self._ready_condition()]}}
                try:
                    self._core.patch_node_status(
                        name, body, _content_type=STRATEGIC, _preload_content=False
                    )
                except Exception as exc:
                    self._error(f"heartbeat of {name}: {exc}")

    def _pod_loop(self) -> None:
        while not self._stop.wait(self._tick_s):
            try:
                self._tick()
            except Exception as exc:
                self._error(f"pod loop: {exc!r}")

    def _tick(self) -> None:
        answer = self._core.list_namespaced_pod(self._namespace, _preload_content=False)
        pods: list[Obj] = json.loads(answer.data).get("items") or []
        seen = set()
        for pod in pods:
            meta, spec = pod["metadata"], pod.get("spec") or {}
            seen.add(meta["uid"])
            node = spec.get("nodeName")
            if not node:
                if not meta.get("deletionTimestamp"):
                    self._schedule(pod, pods)
                continue
            with self._lock:
                mine = self._nodes.get(node)
                if mine is None or not mine.alive:
                    continue  # a dead machine does nothing
                run = self._runs.get(meta["uid"])
            if meta.get("deletionTimestamp"):
                self._terminate(pod, run)
            elif run is None:
                if (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed"):
                    self._start(pod, node)
            elif not run.reported:
                self._report_exit(pod, run)
        with self._lock:  # pods force-deleted from the API: their processes go too
            for uid, run in list(self._runs.items()):
                if uid not in seen:
                    _kill(run, signal.SIGKILL)
                    del self._runs[uid]

    # ---- the scheduler's part -------------------------------------------------------------

    def _schedule(self, pod: Obj, pods: list[Obj]) -> None:
        spec = pod.get("spec") or {}
        wanted = _gpus_wanted(pod)
        with self._lock:
            candidates = [n for n in self._nodes.values() if n.alive and n.schedulable]
        for node in candidates:
            if not _matches(spec, node.labels):
                continue
            used = sum(
                _gpus_wanted(p)
                for p in pods
                if (p.get("spec") or {}).get("nodeName") == node.name
                and (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")
            )
            if node.gpus - used < wanted:
                continue
            binding = {
                "apiVersion": "v1",
                "kind": "Binding",
                "metadata": {"name": pod["metadata"]["name"]},
                "target": {"apiVersion": "v1", "kind": "Node", "name": node.name},
            }
            try:
                self._core.create_namespaced_binding(
                    self._namespace, binding, _preload_content=False
                )
            except ApiException as exc:
                if exc.status not in (404, 409):  # gone, or bound meanwhile
                    raise
            return

    # ---- the kubelet's part ---------------------------------------------------------------

    def _start(self, pod: Obj, node: str) -> None:
        meta = pod["metadata"]
        container = pod["spec"]["containers"][0]
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOSTNAME": meta["name"]}
        for item in container.get("env") or []:
            if "value" in item:
                env[item["name"]] = item["value"]
        pod_dir = self._dir / meta["uid"]
        pod_dir.mkdir(parents=True, exist_ok=True)
        log_path = pod_dir / "container.log"
        started = _now()
        run = Run(self._namespace, meta["name"], meta["uid"], node, None, log_path, started)
        try:
            with log_path.open("ab") as out:
                run.proc = subprocess.Popen(
                    list(container.get("command") or []) + list(container.get("args") or []),
                    env=env,
                    cwd=container.get("workingDir") or pod_dir,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,  # one interleaved log, as Kubernetes keeps
                    start_new_session=True,
                )
        except OSError as exc:  # what a runtime reports as a failed start
            run.exit_code = 128
            run.extra = {"reason": "StartError", "message": str(exc)}
        with self._lock:
            self._runs[meta["uid"]] = run
        if run.proc is not None:
            self._patch_status(pod, "Running", {"running": {"startedAt": started}}, ready=True)
        else:
            self._report_exit(pod, run)

    def _report_exit(self, pod: Obj, run: Run) -> None:
        if run.exit_code is None:
            code = run.proc.poll() if run.proc else None
            if code is None:
                return
            run.exit_code = code if code >= 0 else 128 - code
        terminated = {
            "exitCode": run.exit_code,
            "reason": run.extra.get("reason") or ("Completed" if run.exit_code == 0 else "Error"),
            "startedAt": run.started_at,
            "finishedAt": _now(),
        }
        if "message" in run.extra:
            terminated["message"] = run.extra["message"]
        phase = "Succeeded" if run.exit_code == 0 else "Failed"
        self._patch_status(pod, phase, {"terminated": terminated}, ready=False)
        run.reported = True

    def _terminate(self, pod: Obj, run: Run | None) -> None:
        """A pod being deleted: stop its process within the grace, report, confirm."""
        meta = pod["metadata"]
        if run is not None and run.proc is not None and run.proc.poll() is None:
            if not run.term_sent:
                _kill(run, signal.SIGTERM)
                run.term_sent = True
            if time.time() >= _parse_time(meta["deletionTimestamp"]):
                _kill(run, signal.SIGKILL)
            return
        if run is not None and not run.reported:
            self._report_exit(pod, run)
        body = k8s.V1DeleteOptions(
            grace_period_seconds=0, preconditions=k8s.V1Preconditions(uid=meta["uid"])
        )
        try:
            self._core.delete_namespaced_pod(
                meta["name"], self._namespace, body=body, _preload_content=False
            )
        except ApiException as exc:
            if exc.status not in (404, 409):
                raise

    def _patch_status(self, pod: Obj, phase: str, state: Obj, *, ready: bool) -> None:
        meta, container = pod["metadata"], pod["spec"]["containers"][0]
        flag = "True" if ready else "False"
        status = {
            "phase": phase,
            "hostIP": "127.0.0.1",
            "podIP": "127.0.0.1",
            "startTime": (pod.get("status") or {}).get("startTime") or _now(),
            "conditions": [
                {"type": t, "status": s, "lastTransitionTime": _now()}
                for t, s in (
                    ("Initialized", "True"),
                    ("Ready", flag),
                    ("ContainersReady", flag),
                    ("PodScheduled", "True"),
                )
            ],
            "containerStatuses": [
                {
                    "name": container["name"],
                    "image": container.get("image", ""),
                    "imageID": "",
                    "containerID": f"fake://{meta['uid']}",
                    "ready": ready,
                    "started": ready,
                    "restartCount": 0,
                    "state": state,
                }
            ],
        }
        try:  # a merge patch replaces the lists whole (no stale 'running' state left)
            self._core.patch_namespaced_pod_status(
                meta["name"],
                self._namespace,
                {"status": status},
                _content_type=MERGE,
                _preload_content=False,
            )
        except ApiException as exc:
            if exc.status != 404:
                raise

    def _ready_condition(self) -> Obj:
        now = _now()
        return {
            "type": "Ready",
            "status": "True",
            "reason": "KubeletReady",
            "message": "fake kubelet is posting ready status",
            "lastHeartbeatTime": now,
            "lastTransitionTime": now,
        }

    def _error(self, message: str) -> None:
        if not self._stop.is_set():
            log.warning("fake kubelet: %s", message)
            self.errors.append(message)

    # ---- the log server -------------------------------------------------------------------

    def _log_server(self) -> ThreadingHTTPServer:
        cert, key = self._dir / "kubelet.crt", self._dir / "kubelet.key"
        if not cert.exists():
            subprocess.run(
                [
                    *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30"),
                    *("-keyout", str(key), "-out", str(cert), "-subj", "/CN=fake-kubelet"),
                    *("-addext", "subjectAltName=IP:127.0.0.1"),
                ],
                check=True,
                capture_output=True,
            )
        kubelet = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                url = urlparse(self.path)
                parts = url.path.strip("/").split("/")
                if len(parts) != 4 or parts[0] != "containerLogs":
                    self.send_error(404, "only /containerLogs/{ns}/{pod}/{container}")
                    return
                data = kubelet.log_of(parts[1], parts[2])
                if data is None:
                    self.send_error(404, f"no container log for pod {parts[1]}/{parts[2]}")
                    return
                query = parse_qs(url.query)
                if "tailLines" in query:
                    lines = data.splitlines(keepends=True)
                    data = b"".join(lines[-int(query["tailLines"][0]) :])
                if "limitBytes" in query:
                    data = data[: int(query["limitBytes"][0])]
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        server.socket = context.wrap_socket(server.socket, server_side=True)
        return server

    def _serve_logs(self) -> None:
        assert self._server is not None
        self._server.serve_forever(poll_interval=0.2)

    def log_of(self, namespace: str, pod: str) -> bytes | None:
        with self._lock:
            runs = [r for r in self._runs.values() if (r.namespace, r.pod) == (namespace, pod)]
        if not runs:
            return None
        try:
            return runs[0].log_path.read_bytes()
        except OSError:
            return b""


def _kill(run: Run, sig: signal.Signals) -> None:
    if run.proc is None or run.proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(run.proc.pid, sig)
    if sig == signal.SIGKILL:
        run.proc.wait(timeout=5)


def _gpus_wanted(pod: Obj) -> int:
    total = 0
    for container in (pod.get("spec") or {}).get("containers") or []:
        limits = (container.get("resources") or {}).get("limits") or {}
        total += int(limits.get(GPU_RESOURCE, 0))
    return total


def _matches(spec: Obj, labels: Mapping[str, str]) -> bool:
    """The pod's nodeSelector and required node affinity (In expressions) hold on labels."""
    for key, value in (spec.get("nodeSelector") or {}).items():
        if labels.get(key) != value:
            return False
    affinity = ((spec.get("affinity") or {}).get("nodeAffinity") or {}).get(
        "requiredDuringSchedulingIgnoredDuringExecution"
    )
    if not affinity:
        return True
    for term in affinity.get("nodeSelectorTerms") or []:
        expressions = term.get("matchExpressions") or []
        if all(
            e.get("operator") == "In" and labels.get(e.get("key")) in (e.get("values") or [])
            for e in expressions
        ):
            return True
    return False
