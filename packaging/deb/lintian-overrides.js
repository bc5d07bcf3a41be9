# POSIX sh: '. "$(dirname ...)"' is a plain dot command, not a bash term.
cloudy-agent-js: bash-term-in-posix-shell * [usr/share/cloudy-agent/lxc-templates/*]
# Without systemd the agent is started by the administrator's own init
# (cloudy-agent agent); prerm then asks a running agent to leave over RPC.
cloudy-agent-js: package-supports-alternative-init-but-no-init.d-script [lib/systemd/system/cloudy-agent.service]
