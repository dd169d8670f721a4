"""HTTP front end: a lean ASGI router around the token endpoint and a few small resources."""
