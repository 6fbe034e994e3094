"""The mock's domain: accounts, sessions, chats, generations and the stop, with no HTTP in sight.

`models` are the records, `store` keeps them (the interface and the in-memory store), `generation`
runs answers as tasks, `chunks` is the AI SDK chunk model they emit, `service` decides every
operation (the stop among them) and raises the plain exceptions of `errors`; `seed` loads demo or
user data through the service. Nothing here imports a web framework or an HTTP client.
"""
