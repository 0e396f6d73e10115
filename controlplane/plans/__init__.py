"""Plans: default resource limits and what a tenant may ask for."""
