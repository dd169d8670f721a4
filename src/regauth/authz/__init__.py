"""Authorization: what an identity may do, decided per requested scope."""
