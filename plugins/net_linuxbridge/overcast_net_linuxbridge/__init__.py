"""Linux-bridge networking for Overcast: bridges, VXLAN, namespaces, dnsmasq and iptables."""
