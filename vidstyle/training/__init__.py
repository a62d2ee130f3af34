"""Training fast style networks: the loop, photo data, perceptual losses, the style-weight
balance, and the VGG16 loss network's weights."""
