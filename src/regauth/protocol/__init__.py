"""The Distribution token protocol and OAuth2 pieces, as pure functions over plain values.

Nothing in this package performs I/O or imports from the rest of regauth.
"""
