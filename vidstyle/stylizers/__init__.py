"""What paints frames: the fast feed-forward stylizer (whole frames or tiles), temporal
blending with optical flow, and the fast network's export to ONNX."""
