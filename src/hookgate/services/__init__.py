"""The service layer: the only code that creates or changes records (applications, endpoints, messages,
tokens, keys, sources), with the injected clock and version-checked endpoint edits. `hookgate.client.Hookgate`
composes these classes into one facade; the API, the CLI, the gateway and the demo call only it.
"""

__all__: list[str] = []  # the services are reached through `hookgate.client.Hookgate`
