"""Runtime backends: the small contract Berth needs from a container engine."""
