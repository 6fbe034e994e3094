"""The HTTP surface around the domain: the Connexion app, its handlers and middleware.

`app` builds the app from the served document (`spec`); `handlers` (and `admin.handlers`) are the
operations' thin targets; `errors` renders every error in the contract's body; `auth`, `cors`,
`prefer`, `journal` and `sse` are one concern each; `runtime` is how a request reaches its app's state.
"""
