#!/usr/bin/env bash
# ensure-kube.sh [build|start|stop|status] — a real Kubernetes control plane for the
# Kubernetes engine's contract tests: kube-apiserver and kube-controller-manager v1.20.2
# built from Debian 12's own `kubernetes` source package, and etcd from Debian's
# `etcd-server`. There is no kubelet: the tests bind pods and report their status.
#
#   build   install build deps, fetch the source package, build the two binaries into the
#           cache (8-12 minutes on 2 cores; 488 s measured); nothing to do when cached
#   start   build if needed, then start etcd (127.0.0.1:2379), the apiserver
#           (https://127.0.0.1:6443) and the controller manager (job, namespace,
#           garbagecollector, nodelifecycle, podgc controllers; no scheduler); write a
#           kubeconfig; wait until the API answers.
#           Idempotent and fast when everything already runs.
#   stop    stop the three processes this script started (by their pid files)
#   status  exit 0 when the API answers, 1 otherwise
#
# Paths (all outside the repository):
#   SUANLI_KUBE_CACHE  built binaries   (default ~/.cache/suanli/kubernetes-1.20.2)
#   SUANLI_KUBE_STATE  certs, tokens, etcd data, logs, pid files, kubeconfig
#                      (default /var/tmp/suanli-kube); the kubeconfig is STATE/kubeconfig
# Needs root for apt-get when packages are missing (this machine kind runs as root).
set -euo pipefail

KUBE_VERSION=1.20.2
CACHE=${SUANLI_KUBE_CACHE:-$HOME/.cache/suanli/kubernetes-$KUBE_VERSION}
STATE=${SUANLI_KUBE_STATE:-/var/tmp/suanli-kube}
BIN=$CACHE/bin
API_PORT=6443
ETCD_CLIENT=127.0.0.1:2379
ETCD_PEER=127.0.0.1:2380
CONTROLLERS=job,namespace,garbagecollector,nodelifecycle,podgc

say() { echo "ensure-kube: $*" >&2; }
die() { say "error: $*"; exit 1; }

# Other engineers' scripts may hold apt's lock (Slurm and Ray installs): wait for it.
APT=(apt-get -o DPkg::Lock::Timeout=600 -y -qq --no-install-recommends)

apt_install() {
  local missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'ok installed' || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  say "installing ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive "${APT[@]}" install "${missing[@]}" >/dev/null \
    || { "${APT[@]}" update >/dev/null && DEBIAN_FRONTEND=noninteractive "${APT[@]}" install "${missing[@]}" >/dev/null; }
}

# Debian's source packages come from the archive this machine already uses: add a deb-src
# twin of its deb822 source list once.
enable_deb_src() {
  if grep -qs '^Types:.*deb-src' /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null; then
    return 0
  fi
  [ -f /etc/apt/sources.list.d/debian.sources ] || die "no /etc/apt/sources.list.d/debian.sources to derive deb-src from"
  say "enabling deb-src (/etc/apt/sources.list.d/suanli-debian-src.sources)"
  sed 's/^Types: deb$/Types: deb-src/' /etc/apt/sources.list.d/debian.sources \
    > /etc/apt/sources.list.d/suanli-debian-src.sources
  "${APT[@]}" update >/dev/null
}

built() { [ -x "$BIN/kube-apiserver" ] && [ -x "$BIN/kube-controller-manager" ]; }

do_build() {
  mkdir -p "$CACHE"
  # One build at a time (a test fixture and a person may both ask).
  exec 9>"$CACHE/.build.lock"
  flock 9
  if built; then return 0; fi
  local began=$SECONDS work="$CACHE/build"
  apt_install golang-go golang-github-modern-go-reflect2-dev make rsync dpkg-dev
  enable_deb_src
  rm -rf "$work"; mkdir -p "$work"
  (cd "$work" && apt-get source --download-only -qq kubernetes >/dev/null) \
    || { "${APT[@]}" update >/dev/null && (cd "$work" && apt-get source --download-only -qq kubernetes >/dev/null); } \
    || die "apt-get source kubernetes failed"
  local orig
  orig=$(ls "$work"/kubernetes_*"$KUBE_VERSION".orig.tar.gz 2>/dev/null | head -n 1)
  [ -n "$orig" ] || die "no kubernetes_*$KUBE_VERSION.orig.tar.gz from apt-get source (Debian's version changed?)"
  say "building kube-apiserver and kube-controller-manager $KUBE_VERSION from $(basename "$orig") (8-12 min on 2 cores)"
  tar -xzf "$orig" -C "$work"
  local src="$work/kubernetes-$KUBE_VERSION"
  [ -d "$src" ] || die "unexpected layout of $orig"
  # The vendored reflect2 v1.0.1 crashes the apiserver on its first request under Go >= 1.18
  # (SIGSEGV in mapiterinit): swap in Debian's reflect2 1.0.2.
  local r2="$src/vendor/github.com/modern-go/reflect2"
  rm -rf "${r2:?}"/*
  cp /usr/share/gocode/src/github.com/modern-go/reflect2/*.go /usr/share/gocode/src/github.com/modern-go/reflect2/*.s "$r2"/
  rm -f "$r2"/*_test.go
  # A tarball has no git metadata: give the build the version it reports at /version.
  cat > "$work/version.env" <<EOF
KUBE_GIT_VERSION='v$KUBE_VERSION'
KUBE_GIT_MAJOR='1'
KUBE_GIT_MINOR='20'
EOF
  mkdir -p "$src/.go/src/k8s.io" "$work/home"
  ln -sfn ../../.. "$src/.go/src/k8s.io/kubernetes"
  (cd "$src" && env GOPATH="$src/.go" CGO_ENABLED=0 HOME="$work/home" GOFLAGS=-mod=vendor \
      KUBE_GIT_VERSION_FILE="$work/version.env" \
      make WHAT="cmd/kube-apiserver cmd/kube-controller-manager" > "$work/build.log" 2>&1) \
    || { tail -n 40 "$work/build.log" >&2; die "build failed (log: $work/build.log)"; }
  # Copy then rename, so that a cache never holds half a binary.
  local out="$src/_output/local/bin/linux/amd64" tmp="$CACHE/bin.tmp"
  rm -rf "$tmp"; mkdir -p "$tmp" "$BIN"
  cp "$out/kube-apiserver" "$out/kube-controller-manager" "$tmp"/
  mv "$tmp/kube-apiserver" "$tmp/kube-controller-manager" "$BIN"/
  rmdir "$tmp"
  # The source tree and Go's build cache are several GB; keep only the binaries.
  [ -n "${SUANLI_KUBE_KEEP_BUILD:-}" ] || rm -rf "$work"
  say "built in $((SECONDS - began)) s: $BIN"
}

pid_alive() { local f="$STATE/$1.pid"; [ -f "$f" ] && kill -0 "$(cat "$f")" 2>/dev/null; }

api_ready() {
  [ -f "$STATE/admin.token" ] || return 1
  curl -fsS --max-time 2 --cacert "$STATE/pki/ca.crt" \
    -H "Authorization: Bearer $(cat "$STATE/admin.token")" \
    "https://127.0.0.1:$API_PORT/readyz" >/dev/null 2>&1
}

etcd_ready() { curl -fsS --max-time 2 "http://$ETCD_CLIENT/health" 2>/dev/null | grep -q '"health":"true"'; }

wait_for() { # wait_for SECONDS DESCRIPTION COMMAND...
  local limit=$1 what=$2; shift 2
  local deadline=$((SECONDS + limit))
  until "$@"; do
    [ $SECONDS -lt $deadline ] || return 1
    sleep 0.2
  done
  say "$what ready"
}

make_pki() {
  local pki="$STATE/pki"
  [ -f "$pki/ca.crt" ] && [ -f "$pki/apiserver.crt" ] && [ -f "$pki/sa.key" ] && return 0
  say "generating certificates and keys in $pki"
  mkdir -p "$pki"
  (
    cd "$pki"
    openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 3650 \
      -subj "/CN=suanli-kube-ca" 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -keyout apiserver.key -out apiserver.csr \
      -subj "/CN=kube-apiserver" 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes.default.svc\n' > san.ext
    openssl x509 -req -in apiserver.csr -CA ca.crt -CAkey ca.key -CAcreateserial \
      -out apiserver.crt -days 3650 -extfile san.ext 2>/dev/null
    openssl genrsa -out sa.key 2048 2>/dev/null
    openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
    chmod 600 ./*.key
  )
}

make_credentials() {
  if [ ! -f "$STATE/admin.token" ]; then
    (umask 077; openssl rand -hex 24 > "$STATE/admin.token")
  fi
  local token
  token=$(cat "$STATE/admin.token")
  # Static token auth: one admin in system:masters (the tests and the controller manager).
  (umask 077; printf '%s,suanli-admin,suanli-admin,"system:masters"\n' "$token" > "$STATE/tokens.csv")
  (umask 077; cat > "$STATE/kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: suanli-kube
  cluster:
    server: https://127.0.0.1:$API_PORT
    certificate-authority: $STATE/pki/ca.crt
users:
- name: suanli-admin
  user:
    token: $token
contexts:
- name: suanli-kube
  context: {cluster: suanli-kube, user: suanli-admin, namespace: default}
current-context: suanli-kube
EOF
  )
}

start_bg() { # start_bg NAME COMMAND... : a detached daemon with its own session and log
  local name=$1; shift
  setsid "$@" >"$STATE/$name.log" 2>&1 < /dev/null &
  echo $! > "$STATE/$name.pid"
}

do_start() {
  if pid_alive etcd && pid_alive kube-apiserver && pid_alive kube-controller-manager && api_ready; then
    say "already running (kubeconfig: $STATE/kubeconfig)"
    echo "$STATE/kubeconfig"
    return 0
  fi
  built || do_build
  command -v etcd >/dev/null 2>&1 || apt_install etcd-server
  command -v openssl >/dev/null 2>&1 || apt_install openssl
  command -v curl >/dev/null 2>&1 || apt_install curl
  mkdir -p "$STATE"
  chmod 700 "$STATE"
  make_pki
  make_credentials

  if ! pid_alive etcd; then
    if etcd_ready; then
      die "something else answers on $ETCD_CLIENT (Debian's etcd service?); stop it first"
    fi
    say "starting etcd on $ETCD_CLIENT (data: $STATE/etcd)"
    start_bg etcd etcd --name suanli --data-dir "$STATE/etcd" \
      --listen-client-urls "http://$ETCD_CLIENT" --advertise-client-urls "http://$ETCD_CLIENT" \
      --listen-peer-urls "http://$ETCD_PEER" --initial-advertise-peer-urls "http://$ETCD_PEER" \
      --initial-cluster "suanli=http://$ETCD_PEER" --unsafe-no-fsync
  fi
  wait_for 30 etcd etcd_ready || { tail -n 20 "$STATE/etcd.log" >&2; die "etcd did not start"; }

  if ! pid_alive kube-apiserver; then
    say "starting kube-apiserver on https://127.0.0.1:$API_PORT"
    # ServiceAccount admission is off: no token controller runs, and pods need no tokens
    # since no kubelet runs them. The endpoint reconciler is off: there is no Service
    # network here. Kubelets are reached at their InternalIP (no DNS names for nodes here).
    start_bg kube-apiserver "$BIN/kube-apiserver" \
      --etcd-servers="http://$ETCD_CLIENT" \
      --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port=$API_PORT \
      --insecure-port=0 --endpoint-reconciler-type=none \
      --tls-cert-file="$STATE/pki/apiserver.crt" --tls-private-key-file="$STATE/pki/apiserver.key" \
      --client-ca-file="$STATE/pki/ca.crt" \
      --token-auth-file="$STATE/tokens.csv" --authorization-mode=RBAC \
      --service-account-issuer=https://kubernetes.default.svc \
      --service-account-key-file="$STATE/pki/sa.pub" \
      --service-account-signing-key-file="$STATE/pki/sa.key" \
      --service-cluster-ip-range=10.96.0.0/16 \
      --kubelet-preferred-address-types=InternalIP \
      --disable-admission-plugins=ServiceAccount \
      --default-not-ready-toleration-seconds=2 --default-unreachable-toleration-seconds=2 \
      --enable-priority-and-fairness=false --profiling=false
  fi
  wait_for 60 kube-apiserver api_ready || { tail -n 30 "$STATE/kube-apiserver.log" >&2; die "kube-apiserver did not answer"; }

  if ! pid_alive kube-controller-manager; then
    say "starting kube-controller-manager ($CONTROLLERS)"
    # A node that stops reporting is marked Ready=Unknown after 10 s (40 s by default) and
    # its pods are evicted 2 s later (the apiserver's default tolerations, 300 s by
    # default): the node-loss test then takes seconds, not minutes.
    start_bg kube-controller-manager "$BIN/kube-controller-manager" \
      --kubeconfig="$STATE/kubeconfig" --controllers="$CONTROLLERS" \
      --node-monitor-period=1s --node-monitor-grace-period=10s --node-startup-grace-period=20s \
      --leader-elect=false --port=0 --secure-port=0 --profiling=false
  fi
  sleep 0.5
  pid_alive kube-controller-manager || { tail -n 30 "$STATE/kube-controller-manager.log" >&2; die "kube-controller-manager exited"; }
  say "running (kubeconfig: $STATE/kubeconfig)"
  echo "$STATE/kubeconfig"
}

stop_one() {
  local name=$1 f="$STATE/$1.pid"
  [ -f "$f" ] || return 0
  local pid
  pid=$(cat "$f")
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    say "stopped $name"
  fi
  rm -f "$f"
}

do_stop() {
  stop_one kube-controller-manager
  stop_one kube-apiserver
  stop_one etcd
}

do_status() {
  for name in etcd kube-apiserver kube-controller-manager; do
    if pid_alive "$name"; then say "$name: running (pid $(cat "$STATE/$name.pid"))"; else say "$name: stopped"; fi
  done
  built && say "binaries: $BIN" || say "binaries: not built ($BIN)"
  api_ready
}

case "${1:-start}" in
  build) do_build ;;
  start) do_start ;;
  stop) do_stop ;;
  status) do_status ;;
  *) echo "usage: $0 [build|start|stop|status]" >&2; exit 2 ;;
esac
