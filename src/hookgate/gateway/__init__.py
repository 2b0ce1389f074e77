"""The standalone receiving gateway (``hookgate gateway``): a front end over the inbound pipeline and the
delivery engine. `app` is its ASGI application, `config` its TOML configuration, `server` its process."""

__all__: list[str] = []  # its modules are imported by path
