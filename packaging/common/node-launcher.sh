#!/bin/sh
# cloudy-agent on the system's Node.js (Debian's nodejs 18+, OpenWrt's node
# 18/20): starts the bundled agent. These nodes cannot re-execute themselves
# with V8 flags (no process.execve), so for `agent` node is started with the
# flags and malloc settings its mode and memory budget need, marked
# CLOUDY_AGENT_V8=1 so the agent does not try again. Where they are the edge
# mode's defaults (no -mode or -memory-budget flag, no "mode" or
# "memory_budget" key in the config files given) they are known here and node
# starts once; otherwise the bundle is first asked (the same config parsing as
# the real start), which costs a second node start.
#   CLOUDY_AGENT_NODE    node executable (default: node on PATH)
#   CLOUDY_AGENT_BUNDLE  bundle (default: /usr/lib/cloudy-agent/cloudy-agent.cjs)
node="${CLOUDY_AGENT_NODE:-node}"
bundle="${CLOUDY_AGENT_BUNDLE:-/usr/lib/cloudy-agent/cloudy-agent.cjs}"

# What the bundle prints for a plain `agent` (agent/system/v8-budget.ts,
# launcherSettings); test/packages/node-launcher.test.ts keeps the two equal.
EDGE_DEFAULTS='--max-semi-space-size=1 MALLOC_ARENA_MAX=2 MALLOC_MMAP_THRESHOLD_=131072 MALLOC_TRIM_THRESHOLD_=131072'

# Whether the agent's arguments may change its V8 settings: a flag for them, or
# a config file (or a directory's *.json) with a key for them.
may_change_settings() {
  want_file=""
  for a in "$@"; do
    if [ -n "$want_file" ]; then
      configs_set_it "$a" && return 0
      want_file=""
      continue
    fi
    case "$a" in
      -mode|-mode=*|--mode|--mode=*|-memory-budget|-memory-budget=*|--memory-budget|--memory-budget=*) return 0 ;;
      -config-file=*|--config-file=*|-config-dir=*|--config-dir=*) configs_set_it "${a#*=}" && return 0 ;;
      -config-file|--config-file|-config-dir|--config-dir) want_file=1 ;;
    esac
  done
  return 1
}

configs_set_it() {
  if [ -d "$1" ]; then
    for f in "$1"/*.json; do
      [ -f "$f" ] && grep -qsE '"(mode|memory_budget)"' "$f" && return 0
    done
    return 1
  fi
  # An unreadable file: let the agent say what is wrong with it.
  [ -r "$1" ] || return 0
  grep -qsE '"(mode|memory_budget)"' "$1"
}

if [ "${1:-}" = agent ] && [ "${CLOUDY_AGENT_V8:-}" != 1 ] && [ "${CLOUDY_AGENT_NO_REEXEC:-}" != 1 ]; then
  if may_change_settings "$@"; then
    # (The start-up trace, if asked for, is the agent's start, not this question's.)
    settings="$(CLOUDY_AGENT_PRINT_V8=1 CLOUDY_AGENT_STARTUP_TRACE='' "$node" "$bundle" "$@")"
    status=$?
    case "$settings" in
      cloudy-agent-v8:*) ;;
      *)
        # Not a settings line: help text or a flag error, shown once as is.
        [ -n "$settings" ] && printf '%s\n' "$settings"
        exit "$status"
        ;;
    esac
    settings="${settings#cloudy-agent-v8:}"
  else
    settings="$EDGE_DEFAULTS"
  fi
  flags=""
  for word in $settings; do
    case "$word" in
      --*) flags="$flags $word" ;;
      # A malloc setting already in the environment is kept (as the bundle does).
      MALLOC_*=*) name="${word%%=*}"; eval "[ -n \"\${$name+x}\" ]" || export "${word?}" ;;
    esac
  done
  NODE_OPTIONS="${NODE_OPTIONS:+$NODE_OPTIONS }${flags# }"
  CLOUDY_AGENT_V8=1
  export NODE_OPTIONS CLOUDY_AGENT_V8
fi
exec "$node" "$bundle" "$@"
