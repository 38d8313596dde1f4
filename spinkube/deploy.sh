#!/usr/bin/env bash
# Deploy (or update) the app on a cluster prepared by setup-minikube.sh or docs/deploy-oke.md.
#
#   spinkube/deploy.sh <minikube|oke> [image-ref]
#
# image-ref is the app's OCI reference (`spin registry push` output), ideally pinned by digest
# (ghcr.io/OWNER/todo-chatbot@sha256:…). Without one, `minikube` builds the app with `spin build`
# and pushes it to the cluster's registry addon; `oke` needs one.
# Environment:
#   TODO_HOST, ACME_EMAIL    oke: the public host name and the Let's Encrypt account e-mail
#   JWT_SECRET, APP_API_TOKEN, REDIS_PASSWORD
#                            values for Secrets todo-secrets / app-api-token when they do not exist
#                            yet (random otherwise); existing Secrets are never changed
#   RENDER_ONLY=1            print the manifests that would be applied and stop (no cluster needed)
#   WAIT_TIMEOUT             per rollout (default 300s)
# Idempotent: applying the same image again changes nothing.
set -euo pipefail

NAMESPACE=todo-chatbot
WAIT_TIMEOUT=${WAIT_TIMEOUT:-300s}
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)

die() {
  printf 'deploy.sh: %s\n' "$*" >&2
  exit 1
}
usage() { die "usage: spinkube/deploy.sh <minikube|oke> [image-ref]"; }

(($# >= 1 && $# <= 2)) || usage
overlay=$1
image=${2:-}
[[ -d "$here/overlays/$overlay" ]] || die "no overlay '$overlay' (see spinkube/overlays/)"
command -v kubectl >/dev/null || die "\`kubectl\` is not on the PATH"

if [[ "$overlay" == oke && "${RENDER_ONLY:-}" != 1 ]]; then
  [[ -n "$image" ]] || die "oke needs an image reference (ghcr.io/OWNER/todo-chatbot@sha256:…)"
  [[ -n "${TODO_HOST:-}" ]] || die "oke needs TODO_HOST (the DNS name pointing at the load balancer)"
  [[ -n "${ACME_EMAIL:-}" ]] || die "oke needs ACME_EMAIL (Let's Encrypt account e-mail)"
fi

# minikube without an image: build and push to the registry addon (reached through a
# port-forward, so it works with every minikube driver). Nodes pull it as localhost:5000/….
if [[ -z "$image" && "$overlay" == minikube && "${RENDER_ONLY:-}" != 1 ]]; then
  command -v spin >/dev/null || die "\`spin\` is not on the PATH (needed to build and push; or pass an image-ref)"
  tag=$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || date +%s)
  (cd "$repo" && spin build)
  kubectl -n kube-system port-forward service/registry 5000:80 >/dev/null 2>&1 &
  forward=$!
  trap 'kill "$forward" 2>/dev/null || true' EXIT
  for ((i = 0; i < 30; i++)); do
    curl -fsS http://localhost:5000/v2/ >/dev/null 2>&1 && break
    sleep 1
  done
  (cd "$repo" && spin registry push --insecure "localhost:5000/todo-chatbot:${tag}")
  image="localhost:5000/todo-chatbot:${tag}"
fi

# Render: the overlay, with every SpinApp pinned to the image (and, on oke, the real host/e-mail).
# (kustomize wants relative paths between kustomizations: the temporary one lives in spinkube/.)
work=$(mktemp -d "$here/.deploy-XXXXXX")
trap 'rm -rf "$work"; if [[ -n "${forward:-}" ]]; then kill "$forward" 2>/dev/null || true; fi' EXIT
{
  echo "apiVersion: kustomize.config.k8s.io/v1beta1"
  echo "kind: Kustomization"
  echo "resources:"
  echo "  - ../overlays/$overlay"
  echo "patches:"
  if [[ -n "$image" ]]; then
    echo "  - target: {kind: SpinApp}"
    echo "    patch: '[{\"op\": \"replace\", \"path\": \"/spec/image\", \"value\": \"$image\"}]'"
  fi
  if [[ "$overlay" == oke && -n "${TODO_HOST:-}" ]]; then
    echo "  - target: {kind: Ingress, name: todo-chatbot}"
    echo "    patch: '[{\"op\": \"replace\", \"path\": \"/spec/tls/0/hosts/0\", \"value\": \"$TODO_HOST\"}, {\"op\": \"replace\", \"path\": \"/spec/rules/0/host\", \"value\": \"$TODO_HOST\"}]'"
  fi
  if [[ "$overlay" == oke && -n "${ACME_EMAIL:-}" ]]; then
    echo "  - target: {kind: Issuer, name: letsencrypt}"
    echo "    patch: '[{\"op\": \"replace\", \"path\": \"/spec/acme/email\", \"value\": \"$ACME_EMAIL\"}]'"
  fi
} >"$work/kustomization.yaml"
kubectl kustomize "$work" >"$work/rendered.yaml" || die "kustomize failed for overlay $overlay"

if [[ "${RENDER_ONLY:-}" == 1 ]]; then
  cat "$work/rendered.yaml"
  exit 0
fi
grep -q 'registry.invalid' "$work/rendered.yaml" && die "no image: pass an image-ref"

kubectl get crd spinapps.core.spinkube.dev components.dapr.io >/dev/null 2>&1 ||
  die "SpinKube or Dapr is not installed on the current context ($(kubectl config current-context)); see spinkube/setup-minikube.sh or docs/deploy-oke.md"

# Secrets, created once: rotating them would log every user out and break in-flight deliveries.
kubectl create namespace "$NAMESPACE" --dry-run=client -o yaml | kubectl apply -f - >/dev/null
random() { openssl rand -hex 32; }
if ! kubectl -n "$NAMESPACE" get secret todo-secrets >/dev/null 2>&1; then
  kubectl -n "$NAMESPACE" create secret generic todo-secrets \
    --from-literal=jwt-secret="${JWT_SECRET:-$(random)}" \
    --from-literal=redis-password="${REDIS_PASSWORD:-$(random)}"
fi
if ! kubectl -n "$NAMESPACE" get secret app-api-token >/dev/null 2>&1; then
  # Key `token`: the name dapr.io/app-token-secret expects.
  kubectl -n "$NAMESPACE" create secret generic app-api-token \
    --from-literal=token="${APP_API_TOKEN:-$(random)}"
fi

applied=$(kubectl apply -f "$work/rendered.yaml")
echo "$applied"
# One SpinApp per spin.toml component (the overlay is checked for that by tests/tests/deploy.rs).
mapfile -t apps < <(sed -n 's|^spinapp\.core\.spinkube\.dev/\([^ ]*\) .*|\1|p' <<<"$applied")
((${#apps[@]})) || die "the manifests hold no SpinApp"

echo "waiting for Redis and the broker"
kubectl -n "$NAMESPACE" rollout status statefulset/redis --timeout="$WAIT_TIMEOUT"
kubectl -n "$NAMESPACE" rollout status statefulset/redpanda --timeout="$WAIT_TIMEOUT"

# daprd reads components, configurations, resiliency and subscriptions at start: restart the
# apps when one of them changed.
if grep -Eq '^(component|configuration|resiliency|subscription)\.dapr\.io/.* (configured|created)$' <<<"$applied"; then
  for app in "${apps[@]}"; do
    if kubectl -n "$NAMESPACE" get deployment "$app" >/dev/null 2>&1; then
      kubectl -n "$NAMESPACE" rollout restart deployment "$app"
    fi
  done
fi

echo "waiting for the SpinApps"
for app in "${apps[@]}"; do
  # The operator creates each Deployment shortly after its SpinApp.
  for ((i = 0; i < 60; i++)); do
    kubectl -n "$NAMESPACE" get deployment "$app" >/dev/null 2>&1 && break
    sleep 2
  done
  kubectl -n "$NAMESPACE" rollout status deployment "$app" --timeout="$WAIT_TIMEOUT" ||
    die "$app did not become ready (kubectl -n $NAMESPACE describe deployment $app; kubectl -n $NAMESPACE logs deployment/$app -c daprd)"
done
echo "deployed $overlay with ${image:-the image of the previous deploy}"
