#!/usr/bin/env sh
# Install helm and kubeconform (pinned) as Go modules when they are missing, into
# $TOOLS_BIN (default ~/.cache/twitch-pulse/bin). Used by tests/integration/test_helm.py on a fresh machine
# that has Go; prints the bin directory. Exit 3 when Go is not available.
set -eu

HELM_VERSION=v3.21.4
KUBECONFORM_VERSION=v0.8.0
BIN="${TOOLS_BIN:-$HOME/.cache/twitch-pulse/bin}"
mkdir -p "$BIN"

GO="$(command -v go || true)"
[ -n "$GO" ] || { [ -x /usr/local/go/bin/go ] && GO=/usr/local/go/bin/go; } || true
# `go install` builds carry no release version string, so a stamp file records which one is there.
need() { [ -x "$BIN/$1" ] && [ -f "$BIN/.$1-$2" ]; }

if ! need helm "$HELM_VERSION"; then
    [ -n "$GO" ] || { echo "install-tools: Go is not installed; install Go (https://go.dev/dl/) to get helm" >&2; exit 3; }
    echo "install-tools: go install helm.sh/helm/v3/cmd/helm@$HELM_VERSION" >&2
    GOBIN="$BIN" "$GO" install "helm.sh/helm/v3/cmd/helm@$HELM_VERSION" >&2
    touch "$BIN/.helm-$HELM_VERSION"
fi
if ! need kubeconform "$KUBECONFORM_VERSION"; then
    [ -n "$GO" ] || { echo "install-tools: Go is not installed; install Go (https://go.dev/dl/) to get kubeconform" >&2; exit 3; }
    echo "install-tools: go install github.com/yannh/kubeconform/cmd/kubeconform@$KUBECONFORM_VERSION" >&2
    GOBIN="$BIN" "$GO" install "github.com/yannh/kubeconform/cmd/kubeconform@$KUBECONFORM_VERSION" >&2
    touch "$BIN/.kubeconform-$KUBECONFORM_VERSION"
fi
echo "$BIN"
