"""The network itself: the from-scratch MLP, datasets, the training run and its metrics."""
