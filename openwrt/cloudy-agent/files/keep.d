/etc/cloudy-agent/
