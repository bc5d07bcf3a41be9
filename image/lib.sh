# Shared by the image build scripts: paths, progress lines with per-step time.
# shellcheck shell=bash disable=SC2034
set -euo pipefail
IMAGE_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$IMAGE_DIR/.." && pwd)
# The Debian root cache outlives a clone (CI runs in a fresh one on the same machine): machine-wide
# under /var/cache/cloudy-agent (where the LXC templates keep theirs) when writable, else in the repo.
if [ -z "${IMAGE_CACHE:-}" ]; then
  if mkdir -p /var/cache/cloudy-agent/image 2>/dev/null && [ -w /var/cache/cloudy-agent/image ]; then
    IMAGE_CACHE=/var/cache/cloudy-agent/image
  else IMAGE_CACHE=$REPO/.cache/image; fi
fi
CACHE=$IMAGE_CACHE
WORK=${IMAGE_WORK:-$REPO/build/image}
OUT=${IMAGE_OUT:-$IMAGE_DIR/out}
SUITE=bookworm
# The Debian mirror (build machines reach only that one; override with MIRROR=).
MIRROR=${MIRROR:-http://deb.debian.org/debian}
SECURITY_MIRROR=${SECURITY_MIRROR:-http://deb.debian.org/debian-security}
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git -C "$REPO" log -1 --format=%ct 2>/dev/null || date +%s)}
export SOURCE_DATE_EPOCH

STEP_T0=0
step() { # step "name": prints "[image] name ..." and remembers the start
  STEP_T0=$(date +%s.%N)
  printf '[image] %-28s ...\n' "$1" >&2
  STEP_NAME=$1
}
done_step() { # prints the time the current step took
  local t; t=$(awk -v a="$STEP_T0" -v b="$(date +%s.%N)" 'BEGIN{print b-a}')
  printf '[image] %-28s done in %6.1f s\n' "$STEP_NAME" "$t" >&2
}
need() { for c in "$@"; do command -v "$c" >/dev/null || { echo "missing tool: $c" >&2; exit 1; }; done; }
