"""The security preflight: tenant containers, Berth itself and the engine, checked."""
