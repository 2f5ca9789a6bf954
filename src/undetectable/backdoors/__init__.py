"""One module per construction of the paper (and the classical BadNets control)."""
