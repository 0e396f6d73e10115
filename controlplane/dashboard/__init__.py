"""The operator's web dashboard: server-rendered pages, a little plain JavaScript."""
