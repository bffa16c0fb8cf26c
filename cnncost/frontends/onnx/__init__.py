"""cnncost.frontends.onnx."""
