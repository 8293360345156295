"""Who is calling: the principal every public call runs as, and how a token becomes one."""
