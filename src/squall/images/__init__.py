"""Images: base root filesystems, layers and the layer cache."""
