#!/usr/bin/env bash
# checkov over every overlay, as `kubectl apply -k` would send it; exceptions and their
# reasons in k8s/.checkov.yaml. checkov lives in its own virtualenv, .venv-checkov, created
# here on first use from requirements/checkov.txt (its dependencies clash with
# constraints.txt); CHECKOV=/path/to/checkov uses another.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [ -z "${CHECKOV:-}" ]; then
  CHECKOV=$ROOT/.venv-checkov/bin/checkov
  if [ ! -x "$CHECKOV" ]; then
    echo "Installing checkov into $ROOT/.venv-checkov (first run, about 40 s)..." >&2
    python3 -m venv "$ROOT/.venv-checkov"
    env -u PIP_CONSTRAINT "$ROOT/.venv-checkov/bin/pip" install -q --disable-pip-version-check \
      -r "$ROOT/requirements/checkov.txt"
  fi
fi
KUBECTL=${KUBECTL:-$ROOT/.venv/bin/kubectl}
rendered=$(mktemp -d)
trap 'rm -rf "$rendered"' EXIT
for overlay in "$ROOT"/k8s/overlays/*/; do
  "$KUBECTL" kustomize "$overlay" >"$rendered/$(basename "$overlay").yaml"
done
"$CHECKOV" --config-file "$ROOT/k8s/.checkov.yaml" --directory "$rendered"
