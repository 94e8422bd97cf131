"""The HTTP server over exported bundles (``seqlab serve``): FastAPI on uvicorn, ONNX Runtime underneath,
through the same inference code (:mod:`seqlab.inference.bundle`) that evaluation measures."""
