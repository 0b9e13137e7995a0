"""The load-balancer service (Octavia v2): its objects, status machine, quotas and the
provisioning of each load balancer's data plane through the network host's agent."""
