"""Authentication: who is asking. One module per backend, plus the chain that tries them."""
