"""The edge: Traefik's ForwardAuth gate, the waker for stopped tenants, and activity."""
