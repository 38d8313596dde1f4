#!/usr/bin/env bash
# End-to-end smoke test through the public origin (the Ingress):
#   health → create a daily recurring task → complete it → its next occurrence appears (made by
#   recurring-task-service through Dapr pub/sub and invocation) → the audit log has both events.
#
#   spinkube/smoke.sh <base-url>          e.g. https://todo.local or https://todo.example.org
# Environment:
#   SMOKE_TOKEN       a bearer JWT to use; otherwise one is minted (HS256, openssl) with
#   JWT_SECRET        the app's jwt_secret; otherwise read from Secret todo-secrets with kubectl
#   SMOKE_INSECURE=1  accept a self-signed certificate (the minikube overlay's)
#   SMOKE_TIMEOUT     seconds to wait for the next occurrence and the audit entries (default 90)
#   SMOKE_AUDIT_URL   where /audit/... is served when it is not <base-url> (apps on their own ports,
#                     as under `dapr run -f dapr/dapr.yaml`)
# Needs curl, jq, openssl. Exits non-zero, naming the step, on the first failure.
set -euo pipefail

die() {
  printf 'smoke.sh: FAILED: %s\n' "$*" >&2
  exit 1
}
(($# == 1)) || die "usage: spinkube/smoke.sh <base-url>"
base=${1%/}
audit_base=${SMOKE_AUDIT_URL:-$base}
audit_base=${audit_base%/}
timeout=${SMOKE_TIMEOUT:-90}
for tool in curl jq openssl; do
  command -v "$tool" >/dev/null || die "\`$tool\` is not on the PATH"
done

curl_opts=(--silent --show-error --max-time 20)
[[ "${SMOKE_INSECURE:-}" == 1 ]] && curl_opts+=(--insecure)

b64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }

# A short-lived token for a user of its own, so runs never see each other's tasks.
user="smoke-$(date +%s)-$RANDOM"
token=${SMOKE_TOKEN:-}
if [[ -z "$token" ]]; then
  secret=${JWT_SECRET:-}
  if [[ -z "$secret" ]] && command -v kubectl >/dev/null; then
    secret=$(kubectl -n todo-chatbot get secret todo-secrets -o jsonpath='{.data.jwt-secret}' 2>/dev/null | openssl base64 -d -A || true)
  fi
  [[ -n "$secret" ]] || die "no token: set SMOKE_TOKEN, or JWT_SECRET, or a kubectl context with Secret todo-chatbot/todo-secrets"
  header=$(printf '{"alg":"HS256","typ":"JWT"}' | b64url)
  payload=$(printf '{"sub":"%s","exp":%d}' "$user" "$(($(date +%s) + 600))" | b64url)
  signature=$(printf '%s.%s' "$header" "$payload" | openssl dgst -sha256 -hmac "$secret" -binary | b64url)
  token="$header.$payload.$signature"
fi
auth="authorization: Bearer $token"

# request METHOD PATH [BODY] → sets $status and $body.
request() {
  local out origin=$base
  [[ "$2" == /audit/* ]] && origin=$audit_base
  out=$(curl "${curl_opts[@]}" -X "$1" -H "$auth" -H 'content-type: application/json' \
    ${3:+--data "$3"} --write-out '\n%{http_code}' "$origin$2") || die "$1 $2: no answer from $origin"
  status=${out##*$'\n'}
  body=${out%$'\n'*}
}
expect() {
  [[ "$status" == "$1" ]] || die "$2: expected HTTP $1, got $status: $body"
}

request GET /api/healthz
expect 200 "GET /api/healthz"
echo "ok: chat-api is healthy"

# Due far ahead, so completing it now is on time: the next occurrence is the next day (index 1).
request POST /api/tasks '{"title":"smoke test","due_date":"2099-01-01T09:00:00Z","recurrence_rule":"daily"}'
expect 201 "POST /api/tasks"
id=$(jq -er .id <<<"$body") || die "POST /api/tasks: no id in $body"
echo "ok: created $id"

request POST "/api/tasks/$id/complete"
expect 200 "POST /api/tasks/$id/complete"
[[ $(jq -r .status <<<"$body") == completed ]] || die "complete: status is not completed: $body"
echo "ok: completed $id"

deadline=$(($(date +%s) + timeout))
next=
while [[ -z "$next" ]]; do
  request GET '/api/tasks?status=active&is_recurring=true'
  expect 200 "GET /api/tasks"
  next=$(jq -r --arg id "$id" '.items[] | select(.predecessor_id == $id) | "\(.id) \(.due_date) \(.occurrence_index)"' <<<"$body")
  if [[ -z "$next" ]]; then
    (($(date +%s) < deadline)) || die "no next occurrence of $id after ${timeout}s (recurring-task-service, Dapr pub/sub or invocation)"
    sleep 2
  fi
done
read -r next_id next_due next_index <<<"$next"
[[ "$next_due" == 2099-01-02T09:00:00Z && "$next_index" == 1 ]] ||
  die "next occurrence $next_id: due $next_due index $next_index, expected 2099-01-02T09:00:00Z index 1"
echo "ok: next occurrence $next_id due $next_due"

deadline=$(($(date +%s) + timeout))
while :; do
  request GET "/audit/log?task_id=$id"
  expect 200 "GET /audit/log"
  types=$(jq -r '[.items[].event_type] | sort | join(",")' <<<"$body")
  [[ "$types" == task.completed,task.created ]] && break
  (($(date +%s) < deadline)) || die "audit log of $id has [$types] after ${timeout}s, expected task.created and task.completed"
  sleep 2
done
echo "ok: audit log of $id: $types"
echo "smoke test passed against $base"
