#!/usr/bin/env bash
# A Minikube cluster ready for spinkube/deploy.sh: containerd runtime, the ingress and registry
# addons, cert-manager, the runtime-class-manager with containerd-shim-spin (RuntimeClass
# wasmtime-spin-v2), the spin-operator, and Dapr with its Scheduler. Redis and the broker are part
# of the app's manifests (spinkube/base/infra), applied by deploy.sh.
#
# Idempotent: run it again to finish or repair a half-done setup. Needs minikube, kubectl, helm
# and curl on the PATH. Every version is pinned below (override through the environment).
set -euo pipefail

PROFILE=${MINIKUBE_PROFILE:-todo-chatbot}
K8S_VERSION=${K8S_VERSION:-v1.32.0}
MINIKUBE_CPUS=${MINIKUBE_CPUS:-4}
MINIKUBE_MEMORY=${MINIKUBE_MEMORY:-8g}
CERT_MANAGER_VERSION=${CERT_MANAGER_VERSION:-v1.17.1}
RUNTIME_CLASS_MANAGER_VERSION=${RUNTIME_CLASS_MANAGER_VERSION:-0.2.0}
# v0.24.0 embeds Spin 3.6.3, the Spin the app is tested against (`spin up`).
SHIM_VERSION=${SHIM_VERSION:-v0.24.0}
SPIN_OPERATOR_VERSION=${SPIN_OPERATOR_VERSION:-0.6.1}
DAPR_VERSION=${DAPR_VERSION:-1.18.3}

step() { printf '\n==> %s\n' "$*"; }
die() {
  printf 'setup-minikube.sh: %s\n' "$*" >&2
  exit 1
}

for tool in minikube kubectl helm curl; do
  command -v "$tool" >/dev/null || die "\`$tool\` is not on the PATH (see README.md, \"Deploy to Minikube\")"
done

# Wait until `kubectl get "$@"` succeeds (resources a controller creates asynchronously).
wait_for() {
  local what=$1 tries=${2:-60}
  shift 2
  for ((i = 0; i < tries; i++)); do
    if kubectl get "$@" >/dev/null 2>&1; then
      return 0
    fi
    sleep 5
  done
  die "timed out waiting for ${what} (kubectl get $*)"
}

step "minikube profile ${PROFILE} (containerd, Kubernetes ${K8S_VERSION})"
if minikube status -p "$PROFILE" >/dev/null 2>&1; then
  runtime=$(minikube profile list -o json 2>/dev/null | grep -o '"ContainerRuntime":"[a-z]*"' | head -1 || true)
  if [[ -n "$runtime" && "$runtime" != *containerd* ]]; then
    die "profile ${PROFILE} runs ${runtime}; the Spin shim needs containerd: minikube delete -p ${PROFILE}, then run this again"
  fi
  echo "already running"
else
  minikube start -p "$PROFILE" --container-runtime=containerd --kubernetes-version="$K8S_VERSION" \
    --cpus="$MINIKUBE_CPUS" --memory="$MINIKUBE_MEMORY"
fi
kubectl config use-context "$PROFILE" >/dev/null

step "addons: ingress (nginx) and registry (the app image is pushed there)"
minikube addons enable ingress -p "$PROFILE"
minikube addons enable registry -p "$PROFILE"

step "cert-manager ${CERT_MANAGER_VERSION}"
kubectl apply -f "https://github.com/cert-manager/cert-manager/releases/download/${CERT_MANAGER_VERSION}/cert-manager.yaml"
kubectl -n cert-manager wait --for=condition=Available --timeout=300s \
  deployment/cert-manager deployment/cert-manager-webhook deployment/cert-manager-cainjector

step "runtime-class-manager ${RUNTIME_CLASS_MANAGER_VERSION} + containerd-shim-spin ${SHIM_VERSION}"
helm upgrade --install runtime-class-manager oci://ghcr.io/spinframework/charts/runtime-class-manager \
  --namespace runtime-class-manager --create-namespace --version "$RUNTIME_CLASS_MANAGER_VERSION" --wait
case "$(kubectl get nodes -o jsonpath='{.items[0].status.nodeInfo.architecture}')" in
  amd64) shim_arch=x86_64 ;;
  arm64) shim_arch=aarch64 ;;
  *) die "unsupported node architecture for containerd-shim-spin" ;;
esac
kubectl apply -f - <<EOF
apiVersion: runtime.spinkube.dev/v1alpha1
kind: Shim
metadata:
  name: spin-v2
spec:
  nodeSelector:
    spin: "true"
  fetchStrategy:
    type: anonymousHttp
    anonHttp:
      location: https://github.com/spinframework/containerd-shim-spin/releases/download/${SHIM_VERSION}/containerd-shim-spin-v2-linux-${shim_arch}.tar.gz
  runtimeClass:
    name: wasmtime-spin-v2
    handler: spin-v2
  rolloutStrategy:
    type: recreate
EOF
kubectl label node --all spin=true --overwrite
wait_for "RuntimeClass wasmtime-spin-v2 (the shim installer)" 60 runtimeclass wasmtime-spin-v2

step "spin-operator ${SPIN_OPERATOR_VERSION}"
kubectl apply -f "https://github.com/spinframework/spin-operator/releases/download/v${SPIN_OPERATOR_VERSION}/spin-operator.crds.yaml"
helm upgrade --install spin-operator oci://ghcr.io/spinframework/charts/spin-operator \
  --namespace spin-operator --create-namespace --version "$SPIN_OPERATOR_VERSION" --wait

step "Dapr ${DAPR_VERSION} (control plane with the Scheduler, for jobs)"
helm repo add dapr https://dapr.github.io/helm-charts/ --force-update >/dev/null
helm upgrade --install dapr dapr/dapr --namespace dapr-system --create-namespace \
  --version "$DAPR_VERSION" --set dapr_scheduler.replicaCount=1 --wait --timeout 10m
kubectl -n dapr-system rollout status statefulset/dapr-scheduler-server --timeout=300s

step "ready"
cat <<EOF
Next:
  spinkube/deploy.sh minikube          # build, push to the registry addon, deploy, wait
  echo "\$(minikube ip -p ${PROFILE}) todo.local" | sudo tee -a /etc/hosts
  spinkube/smoke.sh https://todo.local  # with SMOKE_INSECURE=1 (self-signed certificate)
EOF
