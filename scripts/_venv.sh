# Sourced by the scripts: creates or refreshes .venv from the pinned dependencies.
# Needs only Python >= 3.11 and access to PyPI; everything else comes from the wheels.
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV="$ROOT/.venv"

ensure_venv() {
  local python=${PYTHON:-python3}
  if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "Shopmesh needs Python 3.11 or newer (set PYTHON=...)" >&2
    return 1
  fi
  # Reinstall only when the pins or the local packages' metadata change.
  local want
  # A package is a directory with a pyproject.toml (a service being written has none yet).
  local packages=("$ROOT/gen/python" "$ROOT/tools" "$ROOT/web")
  local project
  for project in "$ROOT"/libs/*/pyproject.toml "$ROOT"/services/*/pyproject.toml; do
    [ -f "$project" ] && packages+=("$(dirname "$project")")
  done
  want=$(cat "$ROOT/constraints.txt" "$ROOT/requirements/dev.in" \
    "${packages[@]/%//pyproject.toml}" | sha256sum | cut -c1-16)
  if [ -f "$VENV/.installed" ] && [ "$(cat "$VENV/.installed")" = "$want" ]; then
    ensure_third_party_protos
    return 0
  fi
  echo "Preparing $VENV (first run, or the pins changed)..." >&2
  [ -x "$VENV/bin/python" ] || "$python" -m venv "$VENV"
  # PIP_CONSTRAINT wins over any machine-wide pip constraint, so every environment
  # resolves exactly the versions in constraints.txt.
  PIP_CONSTRAINT="$ROOT/constraints.txt" "$VENV/bin/python" -m pip install -q \
    --disable-pip-version-check -r "$ROOT/requirements/dev.in" \
    "${packages[@]/#/--editable=}"
  echo "$want" >"$VENV/.installed"
  ensure_third_party_protos
}

# The third-party .proto files (google/api, buf/validate) come from the installed wheels:
# materialized with the environment, so plain `buf lint`/`buf build` work from the start.
ensure_third_party_protos() {
  if [ ! -f "$ROOT/third_party/proto/buf/validate/validate.proto" ]; then
    "$VENV/bin/python" -m shoptools.contracts deps >/dev/null
  fi
}
