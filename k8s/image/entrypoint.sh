#!/bin/sh
# The image's entrypoint: SHOP_SERVICE picks the service (its settings need it anyway);
# the argument is its command, `serve` (the default) or `migrate`.
set -eu
: "${SHOP_SERVICE:?set SHOP_SERVICE to the service to run, e.g. catalog}"
exec python -m "$SHOP_SERVICE" "${@:-serve}"
