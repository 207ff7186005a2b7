"""`runstream backup` and `runstream restore`, and the data directory lock between them."""
