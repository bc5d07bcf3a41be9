#!/bin/sh
# cloudy-agent on the system's Node.js (Debian's nodejs 18+, OpenWrt's node
# 18/20): starts the bundled agent. These nodes cannot re-execute themselves
# with V8 flags (no process.execve), so for `agent` the bundle is first asked
# which flags and malloc settings its mode and memory budget need (the same
# config parsing as the real start), then node is started with them, marked
# CLOUDY_AGENT_V8=1 so the agent does not try again.
#   CLOUDY_AGENT_NODE    node executable (default: node on PATH)
#   CLOUDY_AGENT_BUNDLE  bundle (default: /usr/lib/cloudy-agent/cloudy-agent.cjs)
node="${CLOUDY_AGENT_NODE:-node}"
bundle="${CLOUDY_AGENT_BUNDLE:-/usr/lib/cloudy-agent/cloudy-agent.cjs}"

if [ "${1:-}" = agent ] && [ "${CLOUDY_AGENT_V8:-}" != 1 ] && [ "${CLOUDY_AGENT_NO_REEXEC:-}" != 1 ]; then
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
  flags=""
  for word in ${settings#cloudy-agent-v8:}; do
    case "$word" in
      --*) flags="$flags $word" ;;
      MALLOC_*=*) export "${word?}" ;;
    esac
  done
  NODE_OPTIONS="${NODE_OPTIONS:+$NODE_OPTIONS }${flags# }"
  CLOUDY_AGENT_V8=1
  export NODE_OPTIONS CLOUDY_AGENT_V8
fi
exec "$node" "$bundle" "$@"
